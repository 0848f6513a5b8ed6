/**
 * Float64 building blocks of the reference transformers (vit-reference.ts,
 * bert-reference.ts): written once from the textbook definitions so that both
 * references check the native kernels against the same arithmetic.
 */

export interface RefTensor {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

/** Module output: (batch, tokens, width) row-major (padding rows included for text). */
export interface RefActivation {
  tokens: number;
  width: number;
  data: Float64Array;
}

/** erf to float64 accuracy: its Maclaurin series near 0, erfc's continued fraction beyond. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    // Maclaurin series: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
    let term = ax, sum = ax;
    for (let n = 1; n < 80; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by its continued fraction (modified Lentz).
  let f = ax, cc = ax, d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = 1 / (ax + an * d);
    cc = ax + an / cc;
    f *= cc * d;
  }
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f);
}

/** The exact (erf) GELU both models use. */
export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** y[r] = x[r] · Wᵀ + b for rows of width `inDim`. */
export function linear(x: Float64Array, rows: number, inDim: number, w: RefTensor, b: RefTensor | undefined): Float64Array {
  const outDim = w.shape[0];
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outDim; o++) {
      let s = b ? b.data[o] : 0;
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * w.data[o * inDim + i];
      y[r * outDim + o] = s;
    }
  return y;
}

export function layerNorm(x: Float64Array, rows: number, width: number, w: RefTensor, b: RefTensor, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let m = 0, v = 0;
    for (let i = 0; i < width; i++) m += x[r * width + i];
    m /= width;
    for (let i = 0; i < width; i++) v += (x[r * width + i] - m) ** 2;
    v /= width;
    const s = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < width; i++) y[r * width + i] = (x[r * width + i] - m) * s * w.data[i] + b.data[i];
  }
  return y;
}

// What HF adds to the attention scores of padded keys: float32's lowest value.
const FLOAT32_LOWEST = -3.4028234663852886e38;

/**
 * Multi-head softmax(q·kᵀ / sqrt(d)) v over `batch` sequences of `T` tokens and width
 * `C` (NH heads). With `keyMask` (batch x T, 0 = padding), padded keys get HF's additive
 * mask; without it every key counts.
 */
export function attention(
  q: Float64Array, k: Float64Array, v: Float64Array, dims: { batch: number; T: number; C: number; NH: number }, keyMask?: Uint8Array,
): Float64Array {
  const { batch, T, C, NH } = dims, hd = C / NH;
  const ctx = new Float64Array(batch * T * C);
  for (let b = 0; b < batch; b++)
    for (let head = 0; head < NH; head++)
      for (let i = 0; i < T; i++) {
        const s = new Float64Array(T);
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          let d = 0;
          for (let x = 0; x < hd; x++) d += q[(b * T + i) * C + head * hd + x] * k[(b * T + j) * C + head * hd + x];
          s[j] = d / Math.sqrt(hd) + (!keyMask || keyMask[b * T + j] ? 0 : FLOAT32_LOWEST);
          mx = Math.max(mx, s[j]);
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += (s[j] = Math.exp(s[j] - mx));
        for (let x = 0; x < hd; x++) {
          let o = 0;
          for (let j = 0; j < T; j++) o += (s[j] / z) * v[(b * T + j) * C + head * hd + x];
          ctx[(b * T + i) * C + head * hd + x] = o;
        }
      }
  return ctx;
}

/** The first token's row of every sequence: what a classifier (or BERT's pooler) reads. */
export function firstTokenRows(h: Float64Array, batch: number, T: number, C: number): Float64Array {
  const rows = new Float64Array(batch * C);
  for (let b = 0; b < batch; b++) rows.set(h.subarray(b * T * C, b * T * C + C), b * C);
  return rows;
}

/** Cross-entropy per row in float64; NaN where the label is -100 (no loss wanted). */
export function rowLosses(logits: Float64Array, labels: Int32Array, classes: number): Float64Array {
  const out = new Float64Array(labels.length);
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] === -100) {
      out[r] = NaN;
      continue;
    }
    let m = -Infinity;
    for (let k = 0; k < classes; k++) m = Math.max(m, logits[r * classes + k]);
    let s = 0;
    for (let k = 0; k < classes; k++) s += Math.exp(logits[r * classes + k] - m);
    out[r] = m + Math.log(s) - logits[r * classes + labels[r]];
  }
  return out;
}
