/**
 * The end-of-run summary lines that `otfuse train` and `otfuse finetune` print the same
 * way for ViT (training-summary.ts) and BERT (bert-training-summary.ts) runs: the model,
 * data, steps and time, and the warnings at the end.
 */
import { formatSeconds } from './progress.ts';

export const pct = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(2)}%`);
export const fixed = (x: number | null, digits = 4) => (x === null || Number.isNaN(x) ? '-' : x.toFixed(digits));

export interface RunSummaryFields {
  output: string;
  parameters: number;
  trainData: string;
  testData: string | null;
  steps: number;
  totalSteps: number;
  stepsPerEpoch: number;
  threads: number;
  wallSeconds: number;
  secondsPerEpoch: number | null;
  warnings?: string[];
}

/** The model, data, steps and time lines; `rate` follows the time (e.g. ", 900 tokens/s", or ''). */
export function runSummaryHead(s: RunSummaryFields, rate: string): string[] {
  return [
    `model       ${s.output} (${s.parameters.toLocaleString('en-US')} parameters)`,
    `train data  ${s.trainData}`,
    `test data   ${s.testData ?? '(none)'}`,
    `steps       ${s.steps} of ${s.totalSteps} (${(s.steps / s.stepsPerEpoch).toFixed(2)} epochs of ${s.stepsPerEpoch} steps), ${s.threads} threads`,
    `time        ${formatSeconds(s.wallSeconds)}${s.secondsPerEpoch !== null ? ` (${s.secondsPerEpoch.toFixed(1)} s of training per epoch)` : ''}${rate}`,
  ];
}

/** The summary text: its lines, then one line per warning. */
export function summaryText(lines: string[], warnings: string[] | undefined): string {
  for (const w of warnings ?? []) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
