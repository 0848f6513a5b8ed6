/**
 * A function-preserving permutation of a ViT's neurons, for the fusion's strongest
 * self-check: fusing a model with a permuted copy of itself must give the model back.
 * One permutation of the hidden units (the residual stream) everywhere; per layer, a
 * permutation of the heads shared by Q, K and V, one within-head permutation shared by Q
 * and K (so q·k is unchanged), one for V (and W_O's inputs), and one of the MLP units.
 */
import type { RefConfig, RefTensor } from './vit-reference.ts';
import { seededRandom } from './random.ts';

export function randomPermutation(n: number, rand: () => number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** new[i] = old[perm[i]] along `axis` of a row-major tensor. */
export function permuteAxis(t: RefTensor, axis: number, perm: number[]): RefTensor {
  const shape = t.shape;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(t.data.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < n; i++) data.set(t.data.subarray((o * n + perm[i]) * inner, (o * n + perm[i] + 1) * inner), (o * n + i) * inner);
  return { dtype: 'F32', shape: [...shape], data };
}

/** Heads reordered by `heads`, units within each head by `within`. */
export function headPermutation(numHeads: number, headDim: number, heads: number[], within: number[]): number[] {
  const out: number[] = [];
  for (let h = 0; h < numHeads; h++) for (let j = 0; j < headDim; j++) out.push(heads[h] * headDim + within[j]);
  return out;
}

export interface PermuteOptions {
  /** Permute the residual stream too (false keeps it: needed to expect recovery under resid_as_identity). */
  hidden?: boolean;
}

export function permuteVit(cfg: RefConfig, tensors: Map<string, RefTensor>, seed: number, options: PermuteOptions = {}): Map<string, RefTensor> {
  const rand = seededRandom(seed);
  const H = cfg.hidden_size, d = H / cfg.num_attention_heads;
  const identity = Array.from({ length: H }, (_, i) => i);
  const ph = options.hidden === false ? identity : randomPermutation(H, rand);
  const out = new Map(tensors);
  const apply = (name: string, axis: number, perm: number[]) => {
    const t = out.get(name);
    if (t) out.set(name, permuteAxis(t, axis, perm));
  };
  apply('vit.embeddings.cls_token', 2, ph);
  apply('vit.embeddings.position_embeddings', 2, ph);
  apply('vit.embeddings.patch_embeddings.projection.weight', 0, ph);
  apply('vit.embeddings.patch_embeddings.projection.bias', 0, ph);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `vit.encoder.layer.${l}.`;
    const heads = randomPermutation(cfg.num_attention_heads, rand);
    const qk = headPermutation(cfg.num_attention_heads, d, heads, randomPermutation(d, rand));
    const v = headPermutation(cfg.num_attention_heads, d, heads, randomPermutation(d, rand));
    const mlp = randomPermutation(cfg.intermediate_size, rand);
    for (const n of ['layernorm_before', 'layernorm_after']) {
      apply(`${p}${n}.weight`, 0, ph);
      apply(`${p}${n}.bias`, 0, ph);
    }
    for (const [n, perm] of [['query', qk], ['key', qk], ['value', v]] as const) {
      apply(`${p}attention.attention.${n}.weight`, 0, perm);
      apply(`${p}attention.attention.${n}.weight`, 1, ph);
      apply(`${p}attention.attention.${n}.bias`, 0, perm);
    }
    apply(`${p}attention.output.dense.weight`, 0, ph);
    apply(`${p}attention.output.dense.weight`, 1, v);
    apply(`${p}attention.output.dense.bias`, 0, ph);
    apply(`${p}intermediate.dense.weight`, 0, mlp);
    apply(`${p}intermediate.dense.weight`, 1, ph);
    apply(`${p}intermediate.dense.bias`, 0, mlp);
    apply(`${p}output.dense.weight`, 0, ph);
    apply(`${p}output.dense.weight`, 1, mlp);
    apply(`${p}output.dense.bias`, 0, ph);
  }
  apply('vit.layernorm.weight', 0, ph);
  apply('vit.layernorm.bias', 0, ph);
  apply('classifier.weight', 1, ph);
  return out;
}
