/**
 * BERT parameters between HF names and the native flat buffer (the BertParamLayout
 * order), for training: every tensor the config needs, HF's shape, finite values. The
 * tied masked-LM decoder has no tensor of its own (it is the word embeddings).
 */
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import { hfParameterName, nativeBertConfig, type BertConfig } from '../models/bert.ts';
import { tensorsFromFlat } from '../models/native-model.ts';
import { native } from '../native.ts';

export function bertLayoutOf(config: BertConfig): Array<{ name: string; shape: number[]; offset: number; size: number }> {
  return native().bertLayout(nativeBertConfig(config)).tensors.map((t) => ({
    name: hfParameterName(t.name), shape: t.shape, offset: t.offset, size: t.shape.reduce((a, b) => a * b, 1),
  }));
}

/** HF-named tensors -> the flat buffer; errors name `source` and the tensor. Extra tensors are ignored. */
export function bertFlatParameters(config: BertConfig, tensors: Map<string, Tensor>, source: string): Float32Array {
  const layout = bertLayoutOf(config);
  const total = layout.reduce((n, t) => n + t.size, 0);
  const flat = new Float32Array(total);
  for (const t of layout) {
    const tensor = tensors.get(t.name) ?? (t.name === 'cls.predictions.bias' ? tensors.get('cls.predictions.decoder.bias') : undefined);
    if (!tensor) throw new InputError(source, `missing BERT parameter ${t.name}`);
    if (tensor.shape.length !== t.shape.length || tensor.shape.some((d, i) => d !== t.shape[i]))
      throw new InputError(`${source}: ${t.name}`, `has shape [${tensor.shape.join(', ')}], the config needs [${t.shape.join(', ')}]`);
    const data = tensor.data as ArrayLike<number>;
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i])) throw new InputError(`${source}: ${t.name}`, `holds a non-finite value (${data[i]}) at index ${i}`);
    flat.set(data, t.offset);
  }
  return flat;
}

/** The flat buffer -> HF-named tensors (copies). */
export function bertTensorsFromFlat(config: BertConfig, flat: Float32Array): Map<string, Tensor> {
  return tensorsFromFlat(native().bertLayout(nativeBertConfig(config)), hfParameterName, flat);
}
