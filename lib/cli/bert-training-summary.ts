/** The text and progress output of BERT training runs (`otfuse train` on a BERT recipe, `otfuse finetune` on a BERT folder). */
import type { BertCurvePoint, BertStepProgress } from '../train/bert-train.ts';
import { formatTable, type OutputMode } from './output.ts';
import { progressBar } from './progress.ts';
import { fixed, pct, runSummaryHead, summaryText, type RunSummaryFields } from './run-summary.ts';


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

export interface BertSummaryFields extends RunSummaryFields {
  tokensPerSecond: number;
  finalTest: { loss: number | null; perplexity: number | null; accuracy: number | null } | null;
  curve: BertCurvePoint[];
}

export function formatBertSummary(s: BertSummaryFields): string {
  const f = s.finalTest;
  return summaryText([
    ...runSummaryHead(s, `, ${s.tokensPerSecond.toFixed(0)} tokens/s`),
    '',
    bertCurveTable(s.curve),
    '',
    f?.perplexity !== null && f?.perplexity !== undefined
      ? `final test: masked-LM loss ${fixed(f.loss)}, perplexity ${fixed(f.perplexity, 2)}, masked-token accuracy ${pct(f.accuracy)}`
      : `final test: accuracy ${pct(f?.accuracy ?? null)}, loss ${fixed(f?.loss ?? null)}`,
  ], s.warnings);
}
