/** `otfuse run <config.yaml>`: fuse, compare with vanilla averaging and the parents, write the results. */
import type { ExperimentConfig } from '../../config/experiment.ts';
import { loadExperimentConfig } from '../../config/load.ts';
import { runBertExperiment } from '../../pipeline/bert-run.ts';
import { runExperiment, type RunOptions, type Stage } from '../../pipeline/run.ts';
import { formatBertExperimentSummary, formatExperimentSummary } from '../../report/experiment-summary.ts';
import { DEVICE_HELP, deviceOption, type Command } from '../command.ts';
import { printJson, type OutputMode } from '../output.ts';
import { progressBar, type Progress } from '../progress.ts';

export const runCommand: Command = {
  name: 'run',
  summary: 'run a fusion experiment: OT fusion, vanilla fusion, evaluation, report',
  usage: 'run <config.yaml> [--set key=value ...] [--output <folder>] [--force] [--device auto|cpu|cuda] [--json]',
  details: [
    'options:',
    '  --set key=value   override a config key (repeatable), e.g. --set fusion.ot_solver=sinkhorn',
    '  --output <folder> write the fused models and report.json there (output.folder)',
    '  --force           replace an existing output folder (output.force)',
    '  --json            print the report as JSON instead of the table',
    `${DEVICE_HELP} (runtime.device)`,
    '',
    'docs/config.md lists every config key.',
  ].join('\n'),
  options: {
    set: { type: 'string', multiple: true, default: [] },
    output: { type: 'string' },
    force: { type: 'boolean', default: false },
    device: { type: 'string' },
  },
  positionals: { min: 1, max: 1, names: 'one config file' },
  async run({ positionals, values, signal, mode }) {
    const overrides = [...((values.set as string[]) ?? [])];
    if (typeof values.output === 'string') overrides.push(`output.folder=${JSON.stringify(values.output)}`);
    if (values.force) overrides.push('output.force=true');
    const device = deviceOption(values);
    if (device) overrides.push(`runtime.device=${device}`);
    await runWithProgress(loadExperimentConfig(positionals[0], overrides), signal, mode, [positionals[0]]);
  },
};

/** Runs an experiment (ViT or BERT) with a progress bar per stage, then prints its table or JSON. */
export async function runWithProgress(cfg: ExperimentConfig, signal: AbortSignal, mode: OutputMode, inputFiles: string[] = []): Promise<void> {
  let bar: Progress | null = null;
  const options: RunOptions = {
    signal,
    inputFiles,
    onStage: (_stage: Stage, detail: string) => {
      bar?.done();
      bar = progressBar(detail, mode);
      // Without a terminal (a log file), one line per stage instead of the bar; under CI and --json, nothing.
      if (!mode.json && !process.stderr.isTTY && !process.env.CI) process.stderr.write(`${detail}\n`);
    },
    onProgress: (_stage, done, total) => bar?.update(done, total),
  };
  if (cfg.model.type === 'hf_bert') {
    const report = await runBertExperiment(cfg, options);
    (bar as Progress | null)?.done();
    if (mode.json) printJson(report);
    else process.stdout.write(formatBertExperimentSummary(report));
    return;
  }
  const report = await runExperiment(cfg, options);
  (bar as Progress | null)?.done();
  if (mode.json) printJson(report);
  else process.stdout.write(formatExperimentSummary(report));
}
