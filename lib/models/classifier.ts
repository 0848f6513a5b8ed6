/**
 * What evaluation and the data pipeline need from an image classifier, whatever its
 * architecture: the input it expects and a batched forward pass.
 */
import type { TaskOptions } from '../native.ts';

export interface ImageInput {
  channels: number;
  height: number;
  width: number;
}

export interface ForwardOptions extends TaskOptions {
  /** With labels, the result also has each sample's cross-entropy loss. */
  labels?: Int32Array;
}

export interface ForwardResult {
  /** count x numLabels, row-major. */
  logits: Float32Array;
  /** count losses when labels were given, else null. */
  losses: Float32Array | null;
}

export interface ImageClassifier {
  readonly numLabels: number;
  readonly input: ImageInput;
  /** Class names by label index, when the model's config has them. */
  readonly labelNames?: string[];
  /** images: count x C x H x W normalised floats. */
  forward(images: Float32Array, count: number, options?: ForwardOptions): Promise<ForwardResult>;
}
