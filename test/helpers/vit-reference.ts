/**
 * A float64 ViTForImageClassification written straight from the Hugging Face module
 * structure, for checking the native forward pass and its activation capture. It knows
 * HF parameter and module names on its own (not through lib/models/vit.ts), so it also
 * checks the adapter's name mapping.
 */
import { seededRandom } from './random.ts';
import { attention, firstTokenRows, gelu, layerNorm, linear, rowLosses, type RefActivation, type RefTensor } from './reference-ops.ts';

export type { RefActivation, RefTensor } from './reference-ops.ts';

export interface RefConfig {
  image_size: number;
  patch_size: number;
  num_channels: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  num_labels: number;
  layer_norm_eps: number;
  qkv_bias: boolean;
}

/** HF parameter names and shapes of a ViTForImageClassification. */
export function hfShapes(c: RefConfig): Array<[string, number[]]> {
  const C = c.hidden_size, I = c.intermediate_size, T = (c.image_size / c.patch_size) ** 2 + 1;
  const out: Array<[string, number[]]> = [
    ['vit.embeddings.cls_token', [1, 1, C]],
    ['vit.embeddings.position_embeddings', [1, T, C]],
    ['vit.embeddings.patch_embeddings.projection.weight', [C, c.num_channels, c.patch_size, c.patch_size]],
    ['vit.embeddings.patch_embeddings.projection.bias', [C]],
  ];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `vit.encoder.layer.${l}.`;
    for (const n of ['query', 'key', 'value']) {
      out.push([`${p}attention.attention.${n}.weight`, [C, C]]);
      if (c.qkv_bias) out.push([`${p}attention.attention.${n}.bias`, [C]]);
    }
    out.push([`${p}attention.output.dense.weight`, [C, C]], [`${p}attention.output.dense.bias`, [C]]);
    out.push([`${p}intermediate.dense.weight`, [I, C]], [`${p}intermediate.dense.bias`, [I]]);
    out.push([`${p}output.dense.weight`, [C, I]], [`${p}output.dense.bias`, [C]]);
    out.push([`${p}layernorm_before.weight`, [C]], [`${p}layernorm_before.bias`, [C]]);
    out.push([`${p}layernorm_after.weight`, [C]], [`${p}layernorm_after.bias`, [C]]);
  }
  out.push(['vit.layernorm.weight', [C]], ['vit.layernorm.bias', [C]]);
  out.push(['classifier.weight', [c.num_labels, C]], ['classifier.bias', [c.num_labels]]);
  return out;
}

/**
 * Random weights with enough spread that every part of the network matters (LayerNorm
 * gains around 1, weights scaled by fan-in so activations stay O(1)).
 */
export function randomTensors(c: RefConfig, seed: number): Map<string, RefTensor> {
  const rand = seededRandom(seed);
  const out = new Map<string, RefTensor>();
  for (const [name, shape] of hfShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const data = new Float32Array(n);
    const isNorm = name.includes('layernorm');
    for (let i = 0; i < n; i++) {
      const u = rand() * 2 - 1;
      if (isNorm && name.endsWith('.weight')) data[i] = 1 + 0.3 * u;
      else if (name.endsWith('.bias') || isNorm) data[i] = 0.2 * u;
      else if (name.includes('embeddings.cls') || name.includes('position')) data[i] = 0.5 * u;
      else data[i] = (1.7 * u) / Math.sqrt(fanIn);
    }
    out.set(name, { dtype: 'F32', shape, data });
  }
  return out;
}

export function randomImages(c: RefConfig, count: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: count * c.num_channels * c.image_size * c.image_size }, () => rand() * 4 - 2);
}

/** The forward pass; returns logits and every captured module output under its HF name. */
export function referenceForward(
  c: RefConfig, t: Map<string, RefTensor>, images: Float32Array, batch: number,
): { logits: Float64Array; acts: Map<string, RefActivation> } {
  const get = (n: string) => {
    const x = t.get(n);
    if (!x) throw new Error(`reference: missing ${n}`);
    return x;
  };
  const C = c.hidden_size, P = c.patch_size, S = c.image_size, G = S / P, NP = G * G, T = NP + 1;
  const NH = c.num_attention_heads, I = c.intermediate_size;
  const acts = new Map<string, RefActivation>();
  const put = (name: string, tokens: number, width: number, data: Float64Array) => acts.set(name, { tokens, width, data });

  // Patch projection: a convolution with stride = kernel, computed directly.
  const pw = get('vit.embeddings.patch_embeddings.projection.weight'), pb = get('vit.embeddings.patch_embeddings.projection.bias');
  const patches = new Float64Array(batch * NP * C);
  for (let b = 0; b < batch; b++)
    for (let gy = 0; gy < G; gy++)
      for (let gx = 0; gx < G; gx++)
        for (let o = 0; o < C; o++) {
          let s = pb.data[o];
          for (let ch = 0; ch < c.num_channels; ch++)
            for (let y = 0; y < P; y++)
              for (let x = 0; x < P; x++)
                s += pw.data[((o * c.num_channels + ch) * P + y) * P + x] *
                  images[((b * c.num_channels + ch) * S + gy * P + y) * S + gx * P + x];
          patches[(b * NP + gy * G + gx) * C + o] = s;
        }
  put('vit.embeddings.patch_embeddings', NP, C, patches);
  const cls = get('vit.embeddings.cls_token'), pos = get('vit.embeddings.position_embeddings');
  let h = new Float64Array(batch * T * C);
  for (let b = 0; b < batch; b++)
    for (let tok = 0; tok < T; tok++)
      for (let i = 0; i < C; i++)
        h[(b * T + tok) * C + i] = (tok === 0 ? cls.data[i] : patches[(b * NP + tok - 1) * C + i]) + pos.data[tok * C + i];
  put('vit.embeddings', T, C, h);

  const rows = batch * T;
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `vit.encoder.layer.${l}.`;
    const ln1 = layerNorm(h, rows, C, get(`${p}layernorm_before.weight`), get(`${p}layernorm_before.bias`), c.layer_norm_eps);
    put(`${p}layernorm_before`, T, C, ln1);
    const qkv: Record<string, Float64Array> = {};
    for (const n of ['query', 'key', 'value']) {
      qkv[n] = linear(ln1, rows, C, get(`${p}attention.attention.${n}.weight`), c.qkv_bias ? get(`${p}attention.attention.${n}.bias`) : undefined);
      put(`${p}attention.attention.${n}`, T, C, qkv[n]);
    }
    const ctx = attention(qkv.query, qkv.key, qkv.value, { batch, T, C, NH });
    const attnOut = linear(ctx, rows, C, get(`${p}attention.output.dense.weight`), get(`${p}attention.output.dense.bias`));
    put(`${p}attention.output.dense`, T, C, attnOut);
    const res1 = h.map((v, i) => v + attnOut[i]);
    put(`${p}attention`, T, C, attnOut);
    const ln2 = layerNorm(res1, rows, C, get(`${p}layernorm_after.weight`), get(`${p}layernorm_after.bias`), c.layer_norm_eps);
    put(`${p}layernorm_after`, T, C, ln2);
    const pre = linear(ln2, rows, C, get(`${p}intermediate.dense.weight`), get(`${p}intermediate.dense.bias`));
    put(`${p}intermediate.dense`, T, I, pre);
    const act = pre.map(gelu);
    const mlpOut = linear(act, rows, I, get(`${p}output.dense.weight`), get(`${p}output.dense.bias`));
    put(`${p}output.dense`, T, C, mlpOut);
    h = res1.map((v, i) => v + mlpOut[i]);
    put(`vit.encoder.layer.${l}`, T, C, h);
  }
  const fin = layerNorm(h, rows, C, get('vit.layernorm.weight'), get('vit.layernorm.bias'), c.layer_norm_eps);
  put('vit.layernorm', T, C, fin);
  const logits = linear(firstTokenRows(fin, batch, T, C), batch, C, get('classifier.weight'), get('classifier.bias'));
  put('classifier', 1, c.num_labels, logits);
  return { logits, acts };
}

/** Per-sample cross-entropy in float64. */
export function referenceLosses(logits: Float64Array, labels: Int32Array, classes: number): Float64Array {
  return rowLosses(logits, labels, classes);
}

/**
 * The training loss in float64: mean over the batch of the cross-entropy against the
 * smoothed target (1 - e) onehot + e / classes (torch's label_smoothing).
 */
export function referenceTrainingLoss(
  c: RefConfig, t: Map<string, RefTensor>, images: Float32Array, labels: Int32Array, smoothing = 0,
): number {
  const batch = labels.length;
  const { logits } = referenceForward(c, t, images, batch);
  const K = c.num_labels;
  let total = 0;
  for (let r = 0; r < batch; r++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, logits[r * K + k]);
    let s = 0, zsum = 0;
    for (let k = 0; k < K; k++) {
      s += Math.exp(logits[r * K + k] - m);
      zsum += logits[r * K + k];
    }
    const lse = m + Math.log(s);
    total += lse - (1 - smoothing) * logits[r * K + labels[r]] - (smoothing * zsum) / K;
  }
  return total / batch;
}
