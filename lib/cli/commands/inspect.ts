/** `otfuse inspect <model-folder>`: architecture, config, parameter count and tensor table. */
import { describeModel, formatModelSummary } from '../../io/index.ts';
import type { Command } from '../command.ts';
import { printJson } from '../output.ts';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'describe a model folder: architecture, config, parameters, tensors',
  usage: 'inspect <model-folder> [--json]',
  details: 'Reads config.json and the weights (model.safetensors, pytorch_model.bin, or their sharded\nindexes) without modifying anything. --json prints the same as JSON.',
  options: {},
  positionals: { min: 1, max: 1, names: 'one model folder' },
  async run({ positionals, mode }) {
    const summary = await describeModel(positionals[0]);
    if (mode.json) printJson(summary);
    else process.stdout.write(formatModelSummary(summary));
  },
};
