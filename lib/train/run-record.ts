/**
 * What `otfuse train` does the same way for a ViT (run-config.ts) and a BERT
 * (bert-run-config.ts) around the training loop: refusing an output folder it would
 * clobber, checking that a resumed run is the checkpointed one, and the run-level fields
 * of training.json and state.json. Kept in one place so both model kinds resume and
 * record their runs identically.
 */
import { existsSync } from 'node:fs';
import { InputError } from '../errors.ts';
import { readSafetensors } from '../io/safetensors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { LoopSnapshot } from './step-loop.ts';
import type { OptimizerState } from './vit-trainer.ts';

/** Refuses to replace an output folder without --force, or to resume one that is not there. */
export function checkOutputFolder(output: string, options: { force: boolean; resume?: boolean }): void {
  if (existsSync(output) && !options.force && !options.resume)
    throw new InputError(output, 'output folder already exists; pass --force to replace it or --resume to continue its run');
  if (options.resume && !existsSync(output)) throw new InputError(output, 'nothing to resume: the output folder does not exist');
}

/**
 * What a training run reads and its output may never replace: the starting model
 * (init_from), the dataset, the recipe file and a BERT's vocabulary.
 */
export function inputGuards(cfg: { model: { init_from?: string | null; vocab?: string | null }; data: { folder?: string | null } }, recipeFile: string):
  { protectedFolders: string[]; protectedData: string[]; protectedFiles: string[] } {
  return {
    protectedFolders: cfg.model.init_from ? [cfg.model.init_from] : [],
    protectedData: cfg.data.folder ? [cfg.data.folder] : [],
    protectedFiles: [recipeFile, ...(cfg.model.vocab ? [cfg.model.vocab] : [])],
  };
}

/** The first key path where two setups differ, or null. */
export function firstDifference(a: unknown, b: unknown, path = ''): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
  }
  return `${path || '(top level)'}: ${JSON.stringify(b)} in the checkpoint, ${JSON.stringify(a)} now`;
}

/** The run-level part of state.json (the ViT and BERT state files differ only in their curve points). */
export interface RunStateFile<Point> {
  step: number;
  totalSteps: number;
  stepsPerEpoch: number;
  elapsedSeconds: number;
  /** Every random stream is keyed by this seed and the step or epoch it serves. */
  rng: { seed: number; next_step: number };
  threads: number;
  setup: Record<string, unknown>;
  curve: Point[];
}

/**
 * The weights and loop state to resume from the checkpoint in `output`, after checking
 * that the config still describes its run; a different thread count only warns, as the
 * run goes on but is no longer bit-identical.
 */
export async function resumeFrom<Point>(
  output: string, state: { optimizer: OptimizerState; file: RunStateFile<Point> },
  now: { setup: Record<string, unknown>; threads: number; file: string; warnings: string[] },
): Promise<{ tensors: Map<string, Tensor>; resume: { optimizer: OptimizerState; curve: Point[]; elapsedSeconds: number } }> {
  const diff = firstDifference(now.setup, state.file.setup);
  if (diff) throw new InputError(now.file, `does not describe the run checkpointed in ${output}: ${diff}`);
  if (state.file.threads !== now.threads)
    now.warnings.push(`the checkpoint was trained with ${state.file.threads} threads, this run uses ${now.threads}: the weights will not be bit-identical to an uninterrupted run`);
  const tensors = (await readSafetensors(`${output}/model.safetensors`)).tensors;
  return { tensors, resume: { optimizer: state.optimizer, curve: state.file.curve, elapsedSeconds: state.file.elapsedSeconds } };
}

/** Where a run stands, for its training.json. */
export interface RunProgress<Point> {
  step: number;
  curve: Point[];
  elapsed: number;
  totalSteps: number;
  spe: number;
}

/** training.json's run-level fields, the same for every model kind (the parts a resume must agree on are in `setup`). */
export interface RunRecord {
  /** The model, data and recipe keys as configured. */
  setup: Record<string, unknown>;
  /** Native threads used: the run is bit-reproducible for a fixed count. */
  threads: number;
  steps: number;
  totalSteps: number;
  stepsPerEpoch: number;
  epochs: number;
  completed: boolean;
  /** Seconds of training and evaluation over every resumed part. */
  wallSeconds: number;
  /** Mean seconds of training (without evaluation) per epoch. */
  secondsPerEpoch: number | null;
}

/** training.json's run-level fields, in the order the file lists them. */
export function recordBase<Point extends { epoch: number; trainSeconds: number }>(
  setup: Record<string, unknown>, threads: number, s: RunProgress<Point>, evalSteps: number | null | undefined,
): RunRecord {
  // Per-epoch training time means something only when the curve has a point at every epoch end.
  const epochSeconds = s.curve.filter((c) => Number.isInteger(c.epoch) && c.epoch > 0).map((c) => c.trainSeconds);
  return {
    setup, threads, steps: s.step, totalSteps: s.totalSteps, stepsPerEpoch: s.spe, epochs: s.step / s.spe,
    completed: s.step >= s.totalSteps, wallSeconds: s.elapsed,
    secondsPerEpoch: epochSeconds.length && !evalSteps ? epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length : null,
  };
}

/** Where a checkpoint snapshot stands, as recordBase takes it. */
export function snapshotProgress<Point>(snap: LoopSnapshot<Point>): RunProgress<Point> {
  return { step: snap.step, curve: snap.curve, elapsed: snap.elapsedSeconds, totalSteps: snap.length.totalSteps, spe: snap.length.stepsPerEpoch };
}

/** state.json of a checkpoint snapshot. */
export function stateFileOf<Point>(snap: LoopSnapshot<Point>, seed: number, threads: number, setup: Record<string, unknown>): RunStateFile<Point> {
  return {
    step: snap.step, totalSteps: snap.length.totalSteps, stepsPerEpoch: snap.length.stepsPerEpoch, elapsedSeconds: snap.elapsedSeconds,
    rng: { seed, next_step: snap.step }, threads, setup, curve: snap.curve,
  };
}

/** Number of parameters (floats) in a set of tensors. */
export function parameterCount(tensors: Map<string, Tensor>): number {
  let parameters = 0;
  for (const t of tensors.values()) parameters += t.data.length;
  return parameters;
}
