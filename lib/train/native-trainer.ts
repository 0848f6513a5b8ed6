/**
 * What the ViT and BERT trainers (vit-trainer.ts, bert-trainer.ts) expose the same way
 * around their native trainers: configuration, the step count, the parameters under HF
 * names and the optimiser state for checkpoints. The subclasses add the model's own
 * step and gradient calls and say how the flat buffer maps to named tensors.
 */
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { NativeTrainerConfig } from '../native.ts';

/** AdamW moments in the native flat layout, with the number of steps taken. */
export interface OptimizerState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/** The part of a native trainer this base class drives. */
export interface NativeTrainerCore {
  configure(config: NativeTrainerConfig): void;
  readParameters(): Promise<Float32Array>;
  readState(): Promise<OptimizerState>;
  loadState(step: number, m: Float32Array, v: Float32Array): Promise<void>;
  readonly steps: number;
}

/**
 * A native allocation that failed while a trainer was built for batches of `batchSize`
 * (its buffers grow with the batch) becomes an InputError that says what to lower.
 */
export function trainerMemoryError(err: unknown, source: string, batchSize: number): unknown {
  if (!(err instanceof Error) || !/out of memory|could not allocate|bad_alloc/.test(err.message)) return err;
  return new InputError(source, `a trainer for batches of ${batchSize} does not fit in memory (${err.message}); lower the batch size or set a micro-batch`, { cause: err });
}

export abstract class NativeTrainerBase<Native extends NativeTrainerCore> {
  protected constructor(readonly native: Native) {}

  /** The flat parameter layout -> HF-named tensors (copies). */
  protected abstract tensorsFromFlat(flat: Float32Array): Map<string, Tensor>;

  configure(config: NativeTrainerConfig): void {
    this.native.configure(config);
  }

  /** Optimiser steps taken so far. */
  get steps(): number { return this.native.steps; }

  /** The parameters under their HF names (copies, read off the JS thread). */
  async parameters(): Promise<Map<string, Tensor>> {
    return this.tensorsFromFlat(await this.native.readParameters());
  }

  /** The flat parameter buffer (a copy). */
  flatParameters(): Promise<Float32Array> {
    return this.native.readParameters();
  }

  optimizerState(): Promise<OptimizerState> {
    return this.native.readState();
  }

  loadOptimizerState(state: OptimizerState): Promise<void> {
    return this.native.loadState(state.step, state.m, state.v);
  }
}
