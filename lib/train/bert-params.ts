/**
 * BERT parameters between HF names and the native flat buffer (the BertParamLayout
 * order), for training: every tensor the config needs, HF's shape, finite values. The
 * tied masked-LM decoder has no tensor of its own (it is the word embeddings).
 */
import type { Tensor } from '../io/tensor.ts';
import { bertParameterParts, hfParameterName, nativeBertConfig, type BertConfig } from '../models/bert.ts';
import { packParts, tensorsFromFlat } from '../models/native-model.ts';
import { native } from '../native.ts';

export function bertLayoutOf(config: BertConfig): Array<{ name: string; shape: number[]; offset: number; size: number }> {
  return native().bertLayout(nativeBertConfig(config)).tensors.map((t) => ({
    name: hfParameterName(t.name), shape: t.shape, offset: t.offset, size: t.shape.reduce((a, b) => a * b, 1),
  }));
}

/** HF-named tensors -> the flat buffer; errors name `source` and the tensor. Extra tensors are ignored. */
export function bertFlatParameters(config: BertConfig, tensors: Map<string, Tensor>, source: string): Float32Array {
  const { parts, total } = bertParameterParts(config, tensors, source);
  return packParts(parts, total, source);
}

/** The flat buffer -> HF-named tensors (copies). */
export function bertTensorsFromFlat(config: BertConfig, flat: Float32Array): Map<string, Tensor> {
  return tensorsFromFlat(native().bertLayout(nativeBertConfig(config)), hfParameterName, flat);
}
