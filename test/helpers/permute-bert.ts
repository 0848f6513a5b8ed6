/**
 * A function-preserving permutation of a BERT's neurons (HF names), for the fusion's
 * permuted-copy checks. One permutation of the hidden units (the residual stream) in
 * every table, LayerNorm and layer; per layer, a permutation of the heads shared by Q, K
 * and V, one within-head permutation shared by Q and K (q·k is unchanged), one for V
 * (and the attention output's inputs), and one of the MLP units. In the heads: a tied
 * MLM transform's outputs follow the hidden units (the decoder reads them against the
 * word embeddings); an untied one's, and the pooler's, get permutations of their own.
 */
import type { BertRefConfig, RefTensor } from './bert-reference.ts';
import { headPermutation, permuteAxis, randomPermutation } from './permute-vit.ts';
import { seededRandom } from './random.ts';

export interface PermuteBertOptions {
  /** Permute the residual stream too (false keeps it: needed to expect recovery under resid_as_identity). */
  hidden?: boolean;
  /** The MLM decoder has a weight of its own (tie_word_embeddings false). */
  untied?: boolean;
}

export function permuteBert(cfg: BertRefConfig, tensors: Map<string, RefTensor>, seed: number, options: PermuteBertOptions = {}): Map<string, RefTensor> {
  const rand = seededRandom(seed);
  const H = cfg.hidden_size, d = H / cfg.num_attention_heads;
  const identity = Array.from({ length: H }, (_, i) => i);
  const ph = options.hidden === false ? identity : randomPermutation(H, rand);
  const out = new Map(tensors);
  const apply = (name: string, axis: number, perm: number[]) => {
    const t = out.get(name);
    if (!t) throw new Error(`permuteBert: no tensor ${name}`);
    out.set(name, permuteAxis(t, axis, perm));
  };
  const norm = (module: string, perm: number[]) => {
    apply(`${module}.weight`, 0, perm);
    apply(`${module}.bias`, 0, perm);
  };
  for (const t of ['word', 'position', 'token_type']) apply(`bert.embeddings.${t}_embeddings.weight`, 1, ph);
  norm('bert.embeddings.LayerNorm', ph);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    const heads = randomPermutation(cfg.num_attention_heads, rand);
    const qk = headPermutation(cfg.num_attention_heads, d, heads, randomPermutation(d, rand));
    const v = headPermutation(cfg.num_attention_heads, d, heads, randomPermutation(d, rand));
    const mlp = randomPermutation(cfg.intermediate_size, rand);
    for (const [n, perm] of [['query', qk], ['key', qk], ['value', v]] as const) {
      apply(`${p}attention.self.${n}.weight`, 0, perm);
      apply(`${p}attention.self.${n}.weight`, 1, ph);
      apply(`${p}attention.self.${n}.bias`, 0, perm);
    }
    apply(`${p}attention.output.dense.weight`, 0, ph);
    apply(`${p}attention.output.dense.weight`, 1, v);
    apply(`${p}attention.output.dense.bias`, 0, ph);
    norm(`${p}attention.output.LayerNorm`, ph);
    apply(`${p}intermediate.dense.weight`, 0, mlp);
    apply(`${p}intermediate.dense.weight`, 1, ph);
    apply(`${p}intermediate.dense.bias`, 0, mlp);
    apply(`${p}output.dense.weight`, 0, ph);
    apply(`${p}output.dense.weight`, 1, mlp);
    apply(`${p}output.dense.bias`, 0, ph);
    norm(`${p}output.LayerNorm`, ph);
  }
  if (cfg.architectures[0] === 'BertForMaskedLM') {
    const pt = options.untied ? randomPermutation(H, rand) : ph;
    apply('cls.predictions.transform.dense.weight', 0, pt);
    apply('cls.predictions.transform.dense.weight', 1, ph);
    apply('cls.predictions.transform.dense.bias', 0, pt);
    norm('cls.predictions.transform.LayerNorm', pt);
    if (options.untied) apply('cls.predictions.decoder.weight', 1, pt);
  } else {
    const pp = randomPermutation(H, rand);
    apply('bert.pooler.dense.weight', 0, pp);
    apply('bert.pooler.dense.weight', 1, ph);
    apply('bert.pooler.dense.bias', 0, pp);
    apply('classifier.weight', 1, pp);
  }
  return out;
}
