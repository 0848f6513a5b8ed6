/**
 * The native ViT trainer behind HF names: built from a config and HF-named tensors, it
 * takes batches of model input and returns the parameters (and, for checkpoints, the
 * optimiser state) under the same names. Every step runs off the event loop.
 */
import type { Tensor } from '../io/tensor.ts';
import { buildNative } from '../models/native-model.ts';
import { nativeVitConfig, vitParameterParts, vitTensorsFromFlat, type VitConfig } from '../models/vit.ts';
import { defaultDevice, native, runTask, type Device, type NativeStepResult, type NativeVitTrainer, type TaskOptions } from '../native.ts';
import { NativeTrainerBase, trainerMemoryError } from './native-trainer.ts';

export interface TrainerOptions {
  /** Largest batch a step takes. */
  batchSize: number;
  /** Images per forward/backward pass inside a step (gradients add up); default: the whole batch. */
  microBatch?: number;
  device?: Device;
  /** Where the tensors came from, for error messages. */
  source?: string;
  /** Aborting stops the build. */
  signal?: AbortSignal;
}

export type { OptimizerState } from './native-trainer.ts';

export class VitTrainer extends NativeTrainerBase<NativeVitTrainer> {
  private constructor(readonly config: VitConfig, nativeTrainer: NativeVitTrainer) {
    super(nativeTrainer);
  }

  /** The tensors are read in place and copied into the trainer off the JS thread; they are not modified. */
  static async create(config: VitConfig, tensors: Map<string, Tensor>, options: TrainerOptions): Promise<VitTrainer> {
    const source = options.source ?? 'model';
    const trainer = await buildNative(vitParameterParts(config, tensors, source).parts, source, (parts) =>
      runTask(options, (o) => native().VitTrainer.build(nativeVitConfig(config), parts, {
        ...o, batchSize: options.batchSize, microBatch: options.microBatch, device: options.device ?? defaultDevice(),
      }))).catch((err) => { throw trainerMemoryError(err, source, options.batchSize); });
    return new VitTrainer(config, trainer);
  }

  /** One optimiser step on `count` images (count x C x H x W normalised floats). */
  step(images: Float32Array, labels: Int32Array, count: number, options: TaskOptions = {}): Promise<NativeStepResult> {
    return runTask(options, (o) => this.native.step(images, labels, count, o));
  }

  /** The gradient of the mean loss at the current parameters, under HF names; changes nothing. */
  async gradients(images: Float32Array, labels: Int32Array, count: number, options: TaskOptions = {}): Promise<{ loss: number; grads: Map<string, Tensor> }> {
    const { loss, grads } = await runTask(options, (o) => this.native.gradients(images, labels, count, o));
    return { loss, grads: vitTensorsFromFlat(this.config, grads) };
  }

  protected tensorsFromFlat(flat: Float32Array): Map<string, Tensor> {
    return vitTensorsFromFlat(this.config, flat);
  }
}
