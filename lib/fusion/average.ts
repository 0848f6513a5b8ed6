/**
 * The last step of every fusion: weighted averages of same-shaped tensors (natively).
 * OT fusion averages each model's aligned tensors with the anchor's; vanilla fusion
 * averages the parents' tensors as they are.
 */
import { weightedSum } from '../compute.ts';
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { TaskOptions } from '../native.ts';
import type { AlignedTensor, PairAlignment } from './align-pair.ts';

/** Normalised per-model weights: `given` (>= 0, positive sum) or 1/N each. */
export function modelWeights(count: number, given?: number[] | null): number[] {
  if (!given) return new Array<number>(count).fill(1 / count);
  if (given.length !== count) throw new InputError('fusion.weights', `expected ${count} weights, got ${given.length}`);
  const sum = given.reduce((s, w) => s + w, 0);
  if (given.some((w) => !(w >= 0)) || !(sum > 0)) throw new InputError('fusion.weights', 'weights must be >= 0 with a positive sum');
  return given.map((w) => w / sum);
}

/**
 * The fused tensors in the anchor's shapes. `pairs[i]` is model i aligned onto the anchor
 * (null for the anchor itself); `weights` are per model, in the same order.
 */
export async function averageAligned(
  anchorTensors: Map<string, Tensor>, pairs: Array<PairAlignment | null>, weights: number[], task: TaskOptions = {},
): Promise<Map<string, Tensor>> {
  const anchorIndex = pairs.indexOf(null);
  if (anchorIndex < 0 || pairs.lastIndexOf(null) !== anchorIndex) throw new Error('averageAligned: exactly one entry must be the anchor (null)');
  const out = new Map<string, Tensor>();
  for (const [name, anchor] of anchorTensors) {
    const entries = pairs.map((p) => (p ? p.tensors.get(name) : undefined));
    const others = entries.filter((e, i): e is AlignedTensor => i !== anchorIndex && e !== undefined);
    if (others.length === 0 || others.every((e) => e.kind === 'anchor') || !(anchor.data instanceof Float32Array)) {
      out.set(name, { ...anchor, shape: [...anchor.shape], data: anchor.data.slice() });
      continue;
    }
    const kinds = new Set(others.map((e) => e.kind));
    if (kinds.size > 1) throw new Error(`averageAligned: ${name} was handled differently for different models`);
    let inputs: Float32Array[];
    let w: number[];
    if (kinds.has('aligned')) {
      inputs = entries.map((e, i) => (i === anchorIndex ? (anchor.data as Float32Array) : (e as { data: Float32Array }).data));
      w = weights;
    } else {
      // A piece left unfused keeps the non-anchor models' own values (averaged over them).
      const idx = entries.map((_, i) => i).filter((i) => i !== anchorIndex);
      inputs = idx.map((i) => (entries[i] as { data: Float32Array }).data);
      const sum = idx.reduce((s, i) => s + weights[i], 0);
      w = idx.map((i) => (sum > 0 ? weights[i] / sum : 1 / idx.length));
      if (inputs.some((x) => x.length !== anchor.data.length))
        throw new InputError(name, 'is kept from the non-anchor models unfused, so their shapes must match the anchor\'s');
    }
    out.set(name, { dtype: 'F32', shape: [...anchor.shape], data: await weightedSum(inputs, w, task) });
  }
  return out;
}

/** Vanilla fusion: the weighted average of same-shaped models, tensor by tensor. */
export async function vanillaAverage(models: Array<Map<string, Tensor>>, weights: number[], task: TaskOptions = {}): Promise<Map<string, Tensor>> {
  const [first, ...rest] = models;
  const out = new Map<string, Tensor>();
  for (const [name, t] of first) {
    const all = [t, ...rest.map((m) => m.get(name))];
    if (all.some((x) => !x || x.data.length !== t.data.length || x.shape.join() !== t.shape.join()))
      throw new InputError(name, 'differs in shape between the models; vanilla averaging needs models of one shape');
    if (!(t.data instanceof Float32Array)) {
      out.set(name, { ...t, shape: [...t.shape], data: t.data.slice() });
      continue;
    }
    out.set(name, { dtype: 'F32', shape: [...t.shape], data: await weightedSum(all.map((x) => x!.data as Float32Array), weights, task) });
  }
  return out;
}

/** True when every tensor has the same name and shape in all models. */
export function sameShapes(models: Array<Map<string, Tensor>>): boolean {
  const [first, ...rest] = models;
  return rest.every((m) => m.size === first.size && [...first].every(([n, t]) => m.get(n)?.shape.join() === t.shape.join()));
}
