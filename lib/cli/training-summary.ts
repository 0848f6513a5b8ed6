/** The text and progress output that `otfuse train` and `otfuse finetune` share. */
import type { CurvePoint, StepProgress } from '../train/train.ts';
import { formatTable, type OutputMode } from './output.ts';
import { progressBar } from './progress.ts';
import { fixed, pct, runSummaryHead, summaryText, type RunSummaryFields } from './run-summary.ts';


/** Progress callbacks for loading and training: a bar on a terminal, silent otherwise. */
export function trainingProgress(mode: OutputMode) {
  const loading = progressBar('loading data', mode);
  const training = progressBar('training', mode);
  let loaded = false;
  return {
    onLoad(done: number, total: number) {
      loading.update(done, total);
    },
    onStep(p: StepProgress) {
      if (!loaded) {
        loading.done();
        loaded = true;
      }
      training.update(p.step, p.totalSteps,
        `epoch ${p.epoch.toFixed(2)}  loss ${p.loss.toFixed(4)}  acc ${(p.accuracy * 100).toFixed(1)}%  ${p.imagesPerSecond.toFixed(0)} img/s`);
    },
    done() {
      loading.done();
      training.done();
    },
  };
}

/** The accuracy curve as a table: one row per evaluation. */
export function curveTable(curve: CurvePoint[]): string {
  const rows = [['epoch', 'step', 'test acc', 'test loss', 'train loss', 'train acc', 'lr', 'train s']];
  for (const c of curve) {
    rows.push([c.epoch.toFixed(2), String(c.step), pct(c.testAccuracy), fixed(c.testLoss), fixed(c.trainLoss), pct(c.trainAccuracy),
      c.learningRate.toExponential(2), c.trainSeconds.toFixed(1)]);
  }
  return formatTable(rows, ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right']);
}

export interface SummaryFields extends RunSummaryFields {
  imagesPerSecond?: number;
  finalTestAccuracy: number | null;
  finalTestLoss: number | null;
  curve: CurvePoint[];
}

export function formatSummary(s: SummaryFields): string {
  return summaryText([
    ...runSummaryHead(s, s.imagesPerSecond ? `, ${s.imagesPerSecond.toFixed(0)} images/s` : ''),
    '',
    curveTable(s.curve),
    '',
    `final test accuracy ${pct(s.finalTestAccuracy)}, loss ${fixed(s.finalTestLoss)}`,
  ], s.warnings);
}
