/**
 * `otfuse demo` (and `npm start`): the embedded default. Fuses the two bundled
 * Fashion-MNIST ViTs with configs/demo.yaml, from data that ships with the package,
 * and writes the fused models and report to ./otfuse-demo. No download, no GPU.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadExperimentConfig } from '../../config/load.ts';
import { InputError } from '../../errors.ts';
import { packageRoot } from '../../native.ts';
import { runExperiment, type Stage } from '../../pipeline/run.ts';
import { formatExperimentSummary } from '../../report/experiment-summary.ts';
import type { Command } from '../command.ts';
import { printJson } from '../output.ts';
import { progressBar, type Progress } from '../progress.ts';

const DEFAULT_OUTPUT = 'otfuse-demo';

// What an experiment folder holds: the fused models (ot, ot-repaired, vanilla, *-finetuned), the report and the plot.
const EXPERIMENT_ENTRIES = /^(ot(-[a-z]+)*|vanilla|report\.json|landscape\.svg)$/;

/** A folder that holds only what an experiment writes, with a report of the demo's two parents. */
export function isEarlierDemo(folder: string): boolean {
  try {
    if (!statSync(folder).isDirectory() || !readdirSync(folder).every((name) => EXPERIMENT_ENTRIES.test(name))) return false;
    const report = JSON.parse(readFileSync(join(folder, 'report.json'), 'utf8')) as { parents?: Array<{ folder?: unknown }> };
    const parents = ['vit-a', 'vit-b'].map((name) => join(packageRoot(), 'models', 'fashion-mnist', name));
    return Array.isArray(report.parents) && report.parents.length === 2 &&
      report.parents.every((p, i) => typeof p.folder === 'string' && resolve(p.folder) === resolve(parents[i]));
  } catch {
    return false;
  }
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'fuse the two bundled Fashion-MNIST ViTs and compare them (no download, no GPU)',
  usage: 'demo [--output <folder>] [--json]',
  details: [
    'Runs configs/demo.yaml: OT fusion of models/fashion-mnist/vit-a and vit-b on held-out images,',
    'statistics repair, vanilla averaging for comparison, a short finetuning, and evaluation of every',
    `model on the full Fashion-MNIST test split. Writes the fused models and report.json to ./${DEFAULT_OUTPUT}`,
    '(replacing an earlier demo output there) or to --output.',
  ].join('\n'),
  options: { output: { type: 'string' } },
  positionals: { min: 0, max: 0, names: 'no arguments' },
  async run({ values, signal, mode }) {
    const output = resolve(typeof values.output === 'string' ? values.output : DEFAULT_OUTPUT);
    // Replace an earlier demo's output, never a folder of the user's.
    if (existsSync(output) && !isEarlierDemo(output))
      throw new InputError(output, 'exists and is not the output of an earlier demo; choose another with --output');
    const cfg = loadExperimentConfig(join(packageRoot(), 'configs', 'demo.yaml'), [`output.folder=${JSON.stringify(output)}`, 'output.force=true']);
    if (!mode.json) process.stdout.write('Fusing two bundled Fashion-MNIST ViTs (configs/demo.yaml)...\n');
    let bar: Progress | null = null;
    const report = await runExperiment(cfg, {
      signal,
      onStage: (_stage: Stage, detail: string) => {
        bar?.done();
        bar = progressBar(detail, mode);
      },
      onProgress: (_stage, done, total) => bar?.update(done, total),
    });
    (bar as Progress | null)?.done();
    if (mode.json) return printJson(report);
    process.stdout.write(`\n${formatExperimentSummary(report)}`);
    process.stdout.write([
      '',
      'Vanilla fusion averages the two models weight by weight and breaks them; OT fusion first aligns',
      'their neurons with optimal transport. Repair rescales the fused neurons to the parents\' statistics,',
      'and a short finetuning recovers the rest. docs/config.md explains every setting of the experiment.',
    ].join('\n') + '\n');
  },
};
