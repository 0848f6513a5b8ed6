/**
 * Function-preserving neuron permutations shared by permute-vit.ts and permute-bert.ts:
 * the permutation primitives, and the part of an encoder layer both models permute the
 * same way (Q/K/V with head and within-head permutations, the attention output, the
 * MLP). The layer norms and their names differ by model and stay with the callers.
 */
import { seededRandom } from './random.ts';
import type { RefTensor } from './reference-ops.ts';

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

export interface EncoderDims {
  numHeads: number;
  headDim: number;
  intermediate: number;
}

/**
 * The random stream of a permutation seeded by `seed`, the residual stream's
 * permutation drawn first from it (identity when `hidden` is false), and the layer sizes.
 */
export function permutationStart(
  cfg: { hidden_size: number; num_attention_heads: number; intermediate_size: number }, seed: number, hidden: boolean | undefined,
): { rand: () => number; ph: number[]; dims: EncoderDims } {
  const rand = seededRandom(seed);
  const H = cfg.hidden_size;
  const ph = hidden === false ? Array.from({ length: H }, (_, i) => i) : randomPermutation(H, rand);
  return { rand, ph, dims: { numHeads: cfg.num_attention_heads, headDim: H / cfg.num_attention_heads, intermediate: cfg.intermediate_size } };
}

/**
 * Permutes one encoder layer's linear maps, `p` its name prefix and `selfAttention` the
 * module holding Q, K and V ('attention.attention' in ViT, 'attention.self' in BERT).
 * Draws, in order: the heads, the within-head Q/K and V permutations, the MLP units.
 * `ph` is the residual stream's permutation.
 */
export function permuteEncoderLayer(
  apply: (name: string, axis: number, perm: number[]) => void, rand: () => number,
  dims: EncoderDims, p: string, selfAttention: string, ph: number[],
): void {
  const heads = randomPermutation(dims.numHeads, rand);
  const qk = headPermutation(dims.numHeads, dims.headDim, heads, randomPermutation(dims.headDim, rand));
  const v = headPermutation(dims.numHeads, dims.headDim, heads, randomPermutation(dims.headDim, rand));
  const mlp = randomPermutation(dims.intermediate, rand);
  for (const [n, perm] of [['query', qk], ['key', qk], ['value', v]] as const) {
    apply(`${p}${selfAttention}.${n}.weight`, 0, perm);
    apply(`${p}${selfAttention}.${n}.weight`, 1, ph);
    apply(`${p}${selfAttention}.${n}.bias`, 0, perm);
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
