/**
 * A function-preserving permutation of a ViT's neurons, for the fusion's strongest
 * self-check: fusing a model with a permuted copy of itself must give the model back.
 * One permutation of the hidden units (the residual stream) everywhere; per layer, a
 * permutation of the heads shared by Q, K and V, one within-head permutation shared by Q
 * and K (so q·k is unchanged), one for V (and W_O's inputs), and one of the MLP units.
 */
import type { RefConfig, RefTensor } from './vit-reference.ts';
import { permuteAxis, permuteEncoderLayer, permutationStart } from './permute.ts';

export interface PermuteOptions {
  /** Permute the residual stream too (false keeps it: needed to expect recovery under resid_as_identity). */
  hidden?: boolean;
}

export function permuteVit(cfg: RefConfig, tensors: Map<string, RefTensor>, seed: number, options: PermuteOptions = {}): Map<string, RefTensor> {
  const { rand, ph, dims } = permutationStart(cfg, seed, options.hidden);
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
    for (const n of ['layernorm_before', 'layernorm_after']) {
      apply(`${p}${n}.weight`, 0, ph);
      apply(`${p}${n}.bias`, 0, ph);
    }
    permuteEncoderLayer(apply, rand, dims, p, 'attention.attention', ph);
  }
  apply('vit.layernorm.weight', 0, ph);
  apply('vit.layernorm.bias', 0, ph);
  apply('classifier.weight', 1, ph);
  return out;
}
