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
import { permuteAxis, permuteEncoderLayer, permutationStart, randomPermutation } from './permute.ts';

export interface PermuteBertOptions {
  /** Permute the residual stream too (false keeps it: needed to expect recovery under resid_as_identity). */
  hidden?: boolean;
  /** The MLM decoder has a weight of its own (tie_word_embeddings false). */
  untied?: boolean;
}

export function permuteBert(cfg: BertRefConfig, tensors: Map<string, RefTensor>, seed: number, options: PermuteBertOptions = {}): Map<string, RefTensor> {
  const { rand, ph, dims } = permutationStart(cfg, seed, options.hidden);
  const H = cfg.hidden_size;
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
    permuteEncoderLayer(apply, rand, dims, p, 'attention.self', ph);
    norm(`${p}attention.output.LayerNorm`, ph);
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
