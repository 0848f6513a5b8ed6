/**
 * A float64 BertForMaskedLM / BertForSequenceClassification written straight from the
 * Hugging Face module structure (HF's additive attention mask included), for checking
 * the native forward pass, its losses and its activation capture. It knows HF parameter
 * and module names on its own (not through lib/models/bert.ts), so it also checks the
 * adapter's name mapping.
 */
import { seededRandom } from './random.ts';
import { attention, firstTokenRows, gelu, layerNorm, linear, rowLosses, type RefActivation, type RefTensor } from './reference-ops.ts';

export type { RefActivation, RefTensor } from './reference-ops.ts';

export interface BertRefConfig {
  architectures: ['BertForMaskedLM'] | ['BertForSequenceClassification'];
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  /** Classification only. */
  num_labels?: number;
}

export interface RefBatch {
  ids: Int32Array;
  typeIds: Int32Array;
  mask: Uint8Array;
  count: number;
  tokens: number;
}

const isMlm = (c: BertRefConfig) => c.architectures[0] === 'BertForMaskedLM';

/** HF parameter names and shapes (a tied decoder has no tensor of its own). */
export function bertHfShapes(c: BertRefConfig): Array<[string, number[]]> {
  const C = c.hidden_size, I = c.intermediate_size;
  const out: Array<[string, number[]]> = [
    ['bert.embeddings.word_embeddings.weight', [c.vocab_size, C]],
    ['bert.embeddings.position_embeddings.weight', [c.max_position_embeddings, C]],
    ['bert.embeddings.token_type_embeddings.weight', [c.type_vocab_size, C]],
    ['bert.embeddings.LayerNorm.weight', [C]],
    ['bert.embeddings.LayerNorm.bias', [C]],
  ];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    for (const n of ['query', 'key', 'value']) out.push([`${p}attention.self.${n}.weight`, [C, C]], [`${p}attention.self.${n}.bias`, [C]]);
    out.push([`${p}attention.output.dense.weight`, [C, C]], [`${p}attention.output.dense.bias`, [C]]);
    out.push([`${p}attention.output.LayerNorm.weight`, [C]], [`${p}attention.output.LayerNorm.bias`, [C]]);
    out.push([`${p}intermediate.dense.weight`, [I, C]], [`${p}intermediate.dense.bias`, [I]]);
    out.push([`${p}output.dense.weight`, [C, I]], [`${p}output.dense.bias`, [C]]);
    out.push([`${p}output.LayerNorm.weight`, [C]], [`${p}output.LayerNorm.bias`, [C]]);
  }
  if (isMlm(c)) {
    out.push(['cls.predictions.transform.dense.weight', [C, C]], ['cls.predictions.transform.dense.bias', [C]]);
    out.push(['cls.predictions.transform.LayerNorm.weight', [C]], ['cls.predictions.transform.LayerNorm.bias', [C]]);
    out.push(['cls.predictions.bias', [c.vocab_size]]);
  } else {
    out.push(['bert.pooler.dense.weight', [C, C]], ['bert.pooler.dense.bias', [C]]);
    out.push(['classifier.weight', [c.num_labels!, C]], ['classifier.bias', [c.num_labels!]]);
  }
  return out;
}

/** Random weights with enough spread that every part matters (LayerNorm gains near 1, fan-in scaling). */
export function bertRandomTensors(c: BertRefConfig, seed: number): Map<string, RefTensor> {
  const rand = seededRandom(seed);
  const out = new Map<string, RefTensor>();
  for (const [name, shape] of bertHfShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length >= 2 ? shape[1] : 1;
    const data = new Float32Array(n);
    const isNorm = name.includes('LayerNorm');
    const isEmbedding = name.includes('embeddings.') && !isNorm;
    for (let i = 0; i < n; i++) {
      const u = rand() * 2 - 1;
      if (isNorm && name.endsWith('.weight')) data[i] = 1 + 0.3 * u;
      else if (isEmbedding) data[i] = 0.8 * u;
      else if (name.endsWith('.bias') || isNorm) data[i] = 0.2 * u;
      else data[i] = (1.7 * u) / Math.sqrt(fanIn);
    }
    out.set(name, { dtype: 'F32', shape, data });
  }
  return out;
}

/**
 * Random sequences with [CLS]-like id 1 first and right padding of random length
 * (lengths[i] real tokens when given); two token types split each sequence.
 */
export function bertRandomBatch(c: BertRefConfig, count: number, tokens: number, seed: number, lengths?: number[]): RefBatch {
  const rand = seededRandom(seed);
  const ids = new Int32Array(count * tokens), typeIds = new Int32Array(count * tokens), mask = new Uint8Array(count * tokens);
  for (let b = 0; b < count; b++) {
    const real = lengths?.[b] ?? 1 + Math.floor(rand() * tokens);
    const split = Math.floor(real / 2);
    for (let t = 0; t < tokens; t++) {
      const r = b * tokens + t;
      if (t < real) {
        ids[r] = t === 0 ? 1 : Math.floor(rand() * c.vocab_size);
        typeIds[r] = t >= split && c.type_vocab_size > 1 ? 1 : 0;
        mask[r] = 1;
      }
    }
  }
  return { ids, typeIds, mask, count, tokens };
}

/** The forward pass: logits (MLM: batch x tokens x vocab; classification: batch x labels) and every module output under its HF name. */
export function bertReferenceForward(c: BertRefConfig, t: Map<string, RefTensor>, x: RefBatch): { logits: Float64Array; acts: Map<string, RefActivation> } {
  const get = (n: string) => {
    const v = t.get(n);
    if (!v) throw new Error(`reference: missing ${n}`);
    return v;
  };
  const B = x.count, T = x.tokens, C = c.hidden_size, I = c.intermediate_size, NH = c.num_attention_heads;
  const R = B * T;
  const acts = new Map<string, RefActivation>();
  const put = (name: string, width: number, data: Float64Array, tokens = T) => acts.set(name, { tokens, width, data });

  const word = get('bert.embeddings.word_embeddings.weight'), pos = get('bert.embeddings.position_embeddings.weight');
  const type = get('bert.embeddings.token_type_embeddings.weight');
  const sum = new Float64Array(R * C);
  for (let r = 0; r < R; r++)
    for (let i = 0; i < C; i++)
      sum[r * C + i] = word.data[x.ids[r] * C + i] + pos.data[(r % T) * C + i] + type.data[x.typeIds[r] * C + i];
  let h = layerNorm(sum, R, C, get('bert.embeddings.LayerNorm.weight'), get('bert.embeddings.LayerNorm.bias'), c.layer_norm_eps);
  put('bert.embeddings', C, h);

  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    const qkv: Record<string, Float64Array> = {};
    for (const n of ['query', 'key', 'value']) {
      qkv[n] = linear(h, R, C, get(`${p}attention.self.${n}.weight`), get(`${p}attention.self.${n}.bias`));
      put(`${p}attention.self.${n}`, C, qkv[n]);
    }
    const ctx = attention(qkv.query, qkv.key, qkv.value, { batch: B, T, C, NH }, x.mask);
    const attnOut = linear(ctx, R, C, get(`${p}attention.output.dense.weight`), get(`${p}attention.output.dense.bias`));
    put(`${p}attention.output.dense`, C, attnOut);
    const attn = layerNorm(attnOut.map((v, i) => v + h[i]), R, C, get(`${p}attention.output.LayerNorm.weight`), get(`${p}attention.output.LayerNorm.bias`), c.layer_norm_eps);
    put(`${p}attention.output`, C, attn);
    const pre = linear(attn, R, C, get(`${p}intermediate.dense.weight`), get(`${p}intermediate.dense.bias`));
    put(`${p}intermediate.dense`, I, pre);
    const mlpOut = linear(pre.map(gelu), R, I, get(`${p}output.dense.weight`), get(`${p}output.dense.bias`));
    put(`${p}output.dense`, C, mlpOut);
    h = layerNorm(mlpOut.map((v, i) => v + attn[i]), R, C, get(`${p}output.LayerNorm.weight`), get(`${p}output.LayerNorm.bias`), c.layer_norm_eps);
    put(`bert.encoder.layer.${l}`, C, h);
  }

  if (isMlm(c)) {
    const pre = linear(h, R, C, get('cls.predictions.transform.dense.weight'), get('cls.predictions.transform.dense.bias'));
    put('cls.predictions.transform.dense', C, pre);
    const tr = layerNorm(pre.map(gelu), R, C, get('cls.predictions.transform.LayerNorm.weight'), get('cls.predictions.transform.LayerNorm.bias'), c.layer_norm_eps);
    put('cls.predictions.transform', C, tr);
    const decoder = t.get('cls.predictions.decoder.weight') ?? word;
    const logits = linear(tr, R, C, decoder, get('cls.predictions.bias'));
    return { logits, acts };
  }
  const pooledPre = linear(firstTokenRows(h, B, T, C), B, C, get('bert.pooler.dense.weight'), get('bert.pooler.dense.bias'));
  put('bert.pooler.dense', C, pooledPre, 1);
  const logits = linear(pooledPre.map(Math.tanh), B, C, get('classifier.weight'), get('classifier.bias'));
  put('classifier', c.num_labels!, logits, 1);
  return { logits, acts };
}

/** Cross-entropy per row in float64; NaN where the label is -100. */
export function referenceRowLosses(logits: Float64Array, labels: Int32Array, classes: number): Float64Array {
  return rowLosses(logits, labels, classes);
}

/** The rows of an activation that belong to real tokens, in order (what the store keeps). */
export function realRows(act: RefActivation, mask: Uint8Array, count: number): Float64Array {
  if (act.tokens === 1) return act.data;
  const out: number[] = [];
  for (let b = 0; b < count; b++)
    for (let t = 0; t < act.tokens; t++)
      if (mask[b * act.tokens + t]) for (let i = 0; i < act.width; i++) out.push(act.data[(b * act.tokens + t) * act.width + i]);
  return Float64Array.from(out);
}

/**
 * The training loss in float64: masked LM, the mean cross-entropy over the tokens whose
 * label is not -100 (HF's BertForMaskedLM loss); classification, the mean over the
 * sequences, with label smoothing e against (1 - e) onehot + e / classes (torch's
 * CrossEntropyLoss(label_smoothing=e)).
 */
export function bertReferenceTrainingLoss(c: BertRefConfig, t: Map<string, RefTensor>, x: RefBatch, labels: Int32Array, smoothing = 0): number {
  const { logits } = bertReferenceForward(c, t, x);
  const classes = isMlm(c) ? c.vocab_size : c.num_labels!;
  let sum = 0, n = 0;
  for (let r = 0; r < labels.length; r++) {
    if (labels[r] === -100) continue;
    let m = -Infinity, mean = 0;
    for (let k = 0; k < classes; k++) {
      m = Math.max(m, logits[r * classes + k]);
      mean += logits[r * classes + k] / classes;
    }
    let s = 0;
    for (let k = 0; k < classes; k++) s += Math.exp(logits[r * classes + k] - m);
    const lse = m + Math.log(s);
    sum += lse - (1 - smoothing) * logits[r * classes + labels[r]] - smoothing * mean;
    n++;
  }
  return n ? sum / n : 0;
}
