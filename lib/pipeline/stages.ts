/**
 * The stage bookkeeping every experiment run shares: which stage runs (reported through
 * RunOptions.onStage, with a cancellation check at each start), its progress, and the
 * seconds spent in each.
 */
import { throwIfAborted } from '../errors.ts';

export type Stage = 'load' | 'activations' | 'fusion' | 'repair' | 'vanilla' | 'evaluate' | 'finetune' | 'landscape' | 'save';

export interface RunOptions {
  signal?: AbortSignal;
  /** A stage starts (with what it is about to do). */
  onStage?: (stage: Stage, detail: string) => void;
  /** Progress inside the current stage. */
  onProgress?: (stage: Stage, done: number, total: number) => void;
  /** Files the run read besides its models and data (its config file): the output never replaces them. */
  inputFiles?: readonly string[];
}

export interface StageClock {
  /** Seconds per stage (a stage run twice adds up), filled as stages finish. */
  seconds: Partial<Record<Stage | 'total', number>>;
  /** When the run started (performance.now()). */
  started: number;
  stage: (s: Stage, detail: string) => void;
  done: (s: Stage) => void;
  progress: (s: Stage) => (done: number, total: number) => void;
}

/** What a stage function needs of the run: cancellation, and the stage and progress reports. */
export type StageHooks = Pick<StageClock, 'stage' | 'done' | 'progress'> & { signal?: AbortSignal };

export function stageClock(options: RunOptions): StageClock {
  const seconds: StageClock['seconds'] = {};
  const started = performance.now();
  let stageStart = started;
  return {
    seconds,
    started,
    stage: (s, detail) => {
      throwIfAborted(options.signal);
      stageStart = performance.now();
      options.onStage?.(s, detail);
    },
    done: (s) => { seconds[s] = (seconds[s] ?? 0) + (performance.now() - stageStart) / 1000; },
    progress: (s) => (d, t) => options.onProgress?.(s, d, t),
  };
}
