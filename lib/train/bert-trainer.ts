/**
 * The native BERT trainer behind HF names (the text twin of vit-trainer.ts): built from
 * a config and HF-named tensors, it takes batches of token sequences with their labels
 * (a masked LM's already corrupted by lib/text/mlm-masking.ts) and returns the
 * parameters and optimiser state under the same names. Every step runs off the event
 * loop, reports through the promise and stops on an AbortSignal.
 */
import type { Tensor } from '../io/tensor.ts';
import { bertParameterParts, nativeBertConfig, type BertConfig } from '../models/bert.ts';
import { buildNative } from '../models/native-model.ts';
import { defaultDevice, native, runTask, type Device, type NativeBertStepResult, type NativeBertTrainer, type TaskOptions } from '../native.ts';
import type { TokenBatch } from '../text/batch.ts';
import { bertTensorsFromFlat } from './bert-params.ts';
import { NativeTrainerBase, trainerMemoryError } from './native-trainer.ts';

export interface BertTrainerOptions {
  /** Largest batch a step takes. */
  batchSize: number;
  /** Longest sequence a step takes (at most max_position_embeddings). */
  maxTokens: number;
  /** Sequences per forward/backward pass inside a step (gradients add up); default: the whole batch. */
  microBatch?: number;
  device?: Device;
  /** Where the tensors came from, for error messages. */
  source?: string;
  /** Aborting stops the build. */
  signal?: AbortSignal;
}

function inputsOf(batch: TokenBatch) {
  return { ids: batch.ids, typeIds: batch.typeIds, mask: batch.mask, count: batch.count, tokens: batch.tokens };
}

export class BertTrainer extends NativeTrainerBase<NativeBertTrainer> {
  private constructor(readonly config: BertConfig, nativeTrainer: NativeBertTrainer) {
    super(nativeTrainer);
  }

  /** The tensors are read in place and copied into the trainer off the JS thread; they are not modified. Extras are ignored. */
  static async create(config: BertConfig, tensors: Map<string, Tensor>, options: BertTrainerOptions): Promise<BertTrainer> {
    const source = options.source ?? 'model';
    const trainer = await buildNative(bertParameterParts(config, tensors, source).parts, source, (parts) =>
      runTask(options, (o) => native().BertTrainer.build(nativeBertConfig(config), parts, {
        ...o, batchSize: options.batchSize, maxTokens: options.maxTokens, microBatch: options.microBatch, device: options.device ?? defaultDevice(),
      }))).catch((err) => { throw trainerMemoryError(err, source, options.batchSize); });
    return new BertTrainer(config, trainer);
  }

  /** One optimiser step. labels: count x tokens (masked LM, -100 = no loss) or count (classification). */
  step(batch: TokenBatch, labels: Int32Array, options: TaskOptions = {}): Promise<NativeBertStepResult> {
    return runTask(options, (o) => this.native.step(inputsOf(batch), labels, o));
  }

  /** The gradient of the mean loss at the current parameters, under HF names; changes nothing. */
  async gradients(batch: TokenBatch, labels: Int32Array, options: TaskOptions = {}): Promise<NativeBertStepResult & { grads: Map<string, Tensor> }> {
    const r = await runTask(options, (o) => this.native.gradients(inputsOf(batch), labels, o));
    return { ...r, grads: bertTensorsFromFlat(this.config, r.grads) };
  }

  protected tensorsFromFlat(flat: Float32Array): Map<string, Tensor> {
    return bertTensorsFromFlat(this.config, flat);
  }
}
