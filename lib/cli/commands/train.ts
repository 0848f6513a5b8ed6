/** `otfuse train <config.yaml>`: trains a ViT or a BERT masked LM from a recipe (docs/train.md). */
import { readFileSync } from 'node:fs';
import { parseYaml } from '../../config/load.ts';
import { InputError } from '../../errors.ts';
import { isBertRecipe, loadBertTrainConfig } from '../../train/bert-config.ts';
import { trainBertFromConfig } from '../../train/bert-run-config.ts';
import { bertTrainingProgress, formatBertSummary } from '../bert-training-summary.ts';
import { loadTrainConfig } from '../../train/config.ts';
import { trainFromConfig } from '../../train/run-config.ts';
import { DEVICE_HELP, deviceOption, integerOption, type Command } from '../command.ts';
import { printJson } from '../output.ts';
import { formatSummary, trainingProgress } from '../training-summary.ts';
import { MAX_THREADS } from '../../options.ts';

/** Whether the recipe file asks for a BERT (unreadable files go the ViT way, which reports them). */
function isBertRecipeFile(file: string): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  return isBertRecipe(parseYaml(text, file));
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a ViT image classifier or a BERT masked LM from a YAML recipe (docs/train.md)',
  usage: 'train <config.yaml> [--set key=value ...] [--output <folder>] [--resume] [--force] [--threads n] [--device auto|cpu|cuda] [--json]',
  details: [
    'options:',
    '  --set key=value   override a config key (repeatable), e.g. --set training.epochs=2',
    '  --output <folder> output model folder (output.folder)',
    '  --resume          continue the run checkpointed in the output folder',
    '  --force           replace an existing output folder (output.force)',
    '  --json            print the training summary as JSON (no progress bar)',
    '  --threads <n>     native threads (runtime.threads); results are bit-identical for a fixed count',
    `${DEVICE_HELP} (runtime.device)`,
    '',
    'A recipe with model.model_type: bert trains a BertForMaskedLM on a text dataset.',
    'A checkpoint is written after every epoch; Ctrl-C stops between steps and leaves the',
    'last checkpoint whole, and --resume continues from it exactly.',
  ].join('\n'),
  options: {
    set: { type: 'string', multiple: true },
    output: { type: 'string' },
    resume: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    threads: { type: 'string' },
    device: { type: 'string' },
  },
  positionals: { min: 1, max: 1, names: 'one config file' },
  async run({ positionals, values, signal, mode }) {
    const overrides = [...((values.set as string[] | undefined) ?? [])];
    if (typeof values.output === 'string') overrides.push(`output.folder=${JSON.stringify(values.output)}`);
    if (values.force) overrides.push('output.force=true');
    if (values.threads !== undefined) overrides.push(`runtime.threads=${integerOption(values, 'threads', 0, MAX_THREADS)}`);
    const device = deviceOption(values);
    if (device) overrides.push(`runtime.device=${device}`);
    if (values.resume && values.force) throw new InputError('otfuse train', '--resume and --force exclude each other');
    if (isBertRecipeFile(positionals[0])) {
      const cfg = loadBertTrainConfig(positionals[0], overrides);
      const progress = bertTrainingProgress(mode);
      try {
        const report = await trainBertFromConfig(cfg, { file: positionals[0], resume: Boolean(values.resume), signal, onStep: progress.onStep });
        progress.done();
        if (mode.json) return printJson(report);
        process.stdout.write(formatBertSummary(report));
      } finally {
        progress.done();
      }
      return;
    }
    const cfg = loadTrainConfig(positionals[0], overrides);
    const progress = trainingProgress(mode);
    try {
      const report = await trainFromConfig(cfg, {
        file: positionals[0], resume: Boolean(values.resume), signal,
        onLoad: progress.onLoad, onStep: progress.onStep,
      });
      progress.done();
      if (mode.json) return printJson(report);
      process.stdout.write(formatSummary(report));
    } finally {
      progress.done();
    }
  },
};
