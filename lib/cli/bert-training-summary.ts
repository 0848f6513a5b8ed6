/** The text and progress output of BERT training runs (`otfuse train` on a BERT recipe, `otfuse finetune` on a BERT folder). */
import type { BertCurvePoint, BertStepProgress } from '../train/bert-train.ts';
import { formatTable, type OutputMode } from './output.ts';
import { formatSeconds, progressBar } from './progress.ts';

const pct = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(2)}%`);
const fixed = (x: number | null, digits = 4) => (x === null || Number.isNaN(x) ? '-' : x.toFixed(digits));

export function bertTrainingProgress(mode: OutputMode) {
  const training = progressBar('training', mode);
  return {
    onStep(p: BertStepProgress) {
      training.update(p.step, p.totalSteps,
        `epoch ${p.epoch.toFixed(2)}  loss ${p.loss.toFixed(4)}  acc ${(p.accuracy * 100).toFixed(1)}%  ${p.tokensPerSecond.toFixed(0)} tok/s`);
    },
    done() {
      training.done();
    },
  };
}

export function bertCurveTable(curve: BertCurvePoint[]): string {
  const rows = [['epoch', 'step', 'test loss', 'test ppl', 'test acc', 'train loss', 'train acc', 'lr', 'train s']];
  for (const c of curve) {
    rows.push([c.epoch.toFixed(2), String(c.step), fixed(c.testLoss), fixed(c.testPerplexity, 2), pct(c.testAccuracy), fixed(c.trainLoss),
      pct(c.trainAccuracy), c.learningRate.toExponential(2), c.trainSeconds.toFixed(1)]);
  }
  return formatTable(rows, rows[0].map(() => 'right' as const));
}

export interface BertSummaryFields {
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
  tokensPerSecond: number;
  finalTest: { loss: number | null; perplexity: number | null; accuracy: number | null } | null;
  curve: BertCurvePoint[];
  warnings?: string[];
}

export function formatBertSummary(s: BertSummaryFields): string {
  const f = s.finalTest;
  const lines = [
    `model       ${s.output} (${s.parameters.toLocaleString('en-US')} parameters)`,
    `train data  ${s.trainData}`,
    `test data   ${s.testData ?? '(none)'}`,
    `steps       ${s.steps} of ${s.totalSteps} (${(s.steps / s.stepsPerEpoch).toFixed(2)} epochs of ${s.stepsPerEpoch} steps), ${s.threads} threads`,
    `time        ${formatSeconds(s.wallSeconds)}${s.secondsPerEpoch !== null ? ` (${s.secondsPerEpoch.toFixed(1)} s of training per epoch)` : ''}, ${s.tokensPerSecond.toFixed(0)} tokens/s`,
    '',
    bertCurveTable(s.curve),
    '',
    f?.perplexity !== null && f?.perplexity !== undefined
      ? `final test: masked-LM loss ${fixed(f.loss)}, perplexity ${fixed(f.perplexity, 2)}, masked-token accuracy ${pct(f.accuracy)}`
      : `final test: accuracy ${pct(f?.accuracy ?? null)}, loss ${fixed(f?.loss ?? null)}`,
  ];
  for (const w of s.warnings ?? []) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
