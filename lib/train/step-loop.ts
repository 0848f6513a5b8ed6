/**
 * The step loop the ViT and BERT trainers share (train.ts, bert-train.ts): examples in a
 * seeded order per epoch, one native optimiser step per batch, a curve point after every
 * epoch (or every `eval_steps`) and at the end, checkpoints handed to the caller. What a
 * batch is and what a test evaluation measures are the caller's; the order, the running
 * statistics and the schedule of evaluations and checkpoints live here once, so both
 * model kinds resume and report the same way.
 *
 * The epoch order is a function of (seed, epoch), not of a generator's history, so a run
 * resumed from a checkpoint continues exactly as the uninterrupted run would have.
 */
import { SeededRandom } from '../data/random.ts';
import { InputError, throwIfAborted } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { NativeStepResult } from '../native.ts';
import type { RunLength } from './recipe.ts';
import type { OptimizerState } from './vit-trainer.ts';

/** Stream of SeededRandom used for epoch e's order: EPOCH_STREAM + e. */
const EPOCH_STREAM = 0x45504f00;

/** What the loop needs of a native trainer (VitTrainer, BertTrainer). */
export interface LoopTrainer {
  readonly steps: number;
  parameters(): Promise<Map<string, Tensor>>;
  optimizerState(): Promise<OptimizerState>;
  loadOptimizerState(state: OptimizerState): Promise<void>;
}

/** The training statistics since the previous curve point, which every curve point ends with. */
export interface TrainStats {
  trainLoss: number;
  trainAccuracy: number;
  trainSeconds: number;
  learningRate: number;
}

/** A curve point: the step, then the caller's test metrics, then TrainStats. */
export interface LoopPoint extends TrainStats {
  step: number;
  epoch: number;
}

/** One step as the caller ran it. */
export interface StepOutcome {
  result: NativeStepResult;
  /** Examples or tokens the step's loss is the mean over. */
  labelled: number;
  /** What throughput counts (images, real tokens). */
  units: number;
  /** Seconds of the native step alone. */
  seconds: number;
}

export interface LoopSnapshot<Point> {
  step: number;
  epoch: number;
  length: RunLength;
  tensors: Map<string, Tensor>;
  optimizer: OptimizerState;
  curve: Point[];
  elapsedSeconds: number;
}

export interface StepLoopOptions<Point extends LoopPoint> {
  trainer: LoopTrainer;
  length: RunLength;
  seed: number;
  /** Training examples; batchSize of them per step, the last batch of an epoch may be short. */
  examples: number;
  batchSize: number;
  evalSteps?: number | null;
  checkpointSteps?: number | null;
  resume?: { optimizer: OptimizerState; curve: Point[]; elapsedSeconds: number } | null;
  signal?: AbortSignal;
  source: string;
  /** Runs step `step` on the examples `indices` (in this epoch's order). */
  runStep: (indices: Int32Array, step: number) => Promise<StepOutcome>;
  /** The test metrics of a curve point, keys in the order the point lists them. */
  testMetrics: () => Promise<Omit<Point, keyof LoopPoint>>;
  /** After every step: the running mean loss and accuracy over the current epoch, and throughput. */
  onStep?: (result: NativeStepResult, epochMean: { loss: number; accuracy: number }, unitsPerSecond: number) => void;
  onEval?: (point: Point) => void;
  onCheckpoint?: (snapshot: LoopSnapshot<Point>) => Promise<void>;
}

export interface LoopResult<Point> {
  curve: Point[];
  /** Seconds of this call (training plus evaluation). */
  seconds: number;
  /** Seconds over every resumed part of the run. */
  elapsedSeconds: number;
  /** Throughput units per second of training (evaluation excluded) in this call. */
  unitsPerSecond: number;
}

/** Runs the trainer (configured, at its start or resumed weights) to the end of the run. */
export async function runStepLoop<Point extends LoopPoint>(options: StepLoopOptions<Point>): Promise<LoopResult<Point>> {
  const { trainer, length, signal, source } = options;
  const curve: Point[] = [...(options.resume?.curve ?? [])];
  if (options.resume) await trainer.loadOptimizerState(options.resume.optimizer);
  const startStep = trainer.steps;
  if (startStep > length.totalSteps)
    throw new InputError(source, `the checkpoint is at step ${startStep}, past the run's ${length.totalSteps} steps`);

  const started = performance.now();
  const priorSeconds = options.resume?.elapsedSeconds ?? 0;
  const N = options.examples, B = options.batchSize, spe = length.stepsPerEpoch;
  let order: Int32Array | null = null, orderEpoch = -1;
  // Statistics since the last curve point, and over the current epoch for progress.
  let since = { loss: 0, correct: 0, labelled: 0, seconds: 0 };
  let epochStats = { loss: 0, correct: 0, labelled: 0 };
  let trainedUnits = 0, trainSeconds = 0, lastLr = 0;
  const unitsPerSecond = () => (trainSeconds > 0 ? trainedUnits / trainSeconds : 0);

  const evaluateNow = async (step: number): Promise<void> => {
    const test = await options.testMetrics();
    const point = {
      step, epoch: step / spe, ...test,
      trainLoss: since.labelled ? since.loss / since.labelled : NaN,
      trainAccuracy: since.labelled ? since.correct / since.labelled : NaN,
      trainSeconds: since.seconds, learningRate: lastLr,
    } as Point;
    since = { loss: 0, correct: 0, labelled: 0, seconds: 0 };
    curve.push(point);
    options.onEval?.(point);
  };

  for (let step = startStep; step < length.totalSteps; step++) {
    throwIfAborted(signal);
    const epoch = Math.floor(step / spe), k = step % spe;
    if (epoch !== orderEpoch) {
      order = new SeededRandom(options.seed, EPOCH_STREAM + epoch).permutation(N);
      orderEpoch = epoch;
      if (k === 0) epochStats = { loss: 0, correct: 0, labelled: 0 };
    }
    const from = k * B, n = Math.min(B, N - from);
    const { result: r, labelled, units, seconds: dt } = await options.runStep(order!.subarray(from, from + n), step).catch((err: Error) => {
      // A diverging run (learning rate far too high, or data out of range) is the recipe's or the data's fault.
      throw /the gradient is not finite/.test(err?.message ?? '') ? new InputError(options.source, err.message, { cause: err }) : err;
    });
    trainSeconds += dt;
    trainedUnits += units;
    lastLr = r.lr;
    for (const s of [since, epochStats]) {
      s.loss += r.loss * labelled;
      s.correct += r.correct;
      s.labelled += labelled;
    }
    since.seconds += dt;
    options.onStep?.(r, {
      loss: epochStats.labelled ? epochStats.loss / epochStats.labelled : NaN,
      accuracy: epochStats.labelled ? epochStats.correct / epochStats.labelled : NaN,
    }, unitsPerSecond());
    const done = r.step;
    const epochEnd = done % spe === 0;
    const last = done === length.totalSteps;
    const evalDue = options.evalSteps ? done % options.evalSteps === 0 : epochEnd;
    if (evalDue || last) await evaluateNow(done);
    const checkpointDue = epochEnd || (options.checkpointSteps ? done % options.checkpointSteps === 0 : false);
    if (options.onCheckpoint && (checkpointDue || last)) {
      await options.onCheckpoint({
        step: done, epoch: done / spe, length, tensors: await trainer.parameters(), optimizer: await trainer.optimizerState(),
        curve: [...curve], elapsedSeconds: priorSeconds + (performance.now() - started) / 1000,
      });
    }
  }
  // A run resumed at its very end still reports its final metrics.
  if (curve.length === 0 || curve[curve.length - 1].step !== length.totalSteps) await evaluateNow(trainer.steps);

  const seconds = (performance.now() - started) / 1000;
  return { curve, seconds, elapsedSeconds: priorSeconds + seconds, unitsPerSecond: unitsPerSecond() };
}
