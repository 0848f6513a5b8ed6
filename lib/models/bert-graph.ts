/**
 * BERT as the fusion walks it (lib/fusion/graph.ts): parameter and activation names of
 * every piece of a post-LN encoder, following docs/fusion.md.
 *
 * Post-LN order per layer: attention (Q, K, V, output projection), residual policy,
 * attention LayerNorm, MLP (in, out), residual policy, output LayerNorm. The residual
 * stream entering layer i is the embeddings output for i = 0 and layer i - 1's output
 * after that; entering the MLP's residual it is the attention block's LayerNorm output
 * (post-LN: that is what is added to the MLP output; the reference adds the layer input
 * to it as for the pre-LN ViT, which does not describe BERT's sum).
 *
 * Embeddings. The word, position and token-type tables are each aligned by their own
 * values (every hidden unit a neuron whose features are its column of the table). The
 * map entering the encoder, which the embedding LayerNorm and layer 0 take, is the
 * residual policy over two of them, as ViT's is over its position embeddings and patch
 * projection: the word embeddings are the sublayer branch (they carry the token, as the
 * patch projection carries the patch) and the position embeddings the residual branch.
 * The token-type table's map aligns that table only, as ViT's class-token map does: a
 * table of type_vocab_size rows (2, and usually only one of them trained) says too little
 * about a hidden unit to steer the whole stream. The alternative, a map from the embedding
 * LayerNorm's activations, exists only in acts mode and would leave the three tables in
 * bases of their own; the policy gives the same rule in both modes.
 *
 * Heads. The masked-LM transform dense takes the encoder's map in; its outputs feed the
 * decoder, which (tied, as by default) is the word embeddings: their basis is the word
 * table's, so the transform's outputs take the word table's map instead of one of their
 * own, its LayerNorm follows, and the decoder weight stays the fused word embeddings (one
 * tensor). The decoder bias is per vocabulary entry and only averaged. An untied decoder
 * is an ordinary output layer. The classifier head: pooler dense (map in and out, its
 * activations one row per sequence), then the classifier, inputs aligned, classes in order.
 */
import type { EncoderGraph, EncoderLayer, HeadStep, LinearPiece, NormPiece } from '../fusion/graph.ts';
import type { BertConfig } from './bert.ts';

const WORD = 'bert.embeddings.word_embeddings.weight';

export function bertFusionGraph(config: BertConfig): EncoderGraph {
  const linear = (module: string): LinearPiece => ({ weight: `${module}.weight`, bias: `${module}.bias`, acts: module });
  const norm = (module: string): NormPiece => ({ weight: `${module}.weight`, bias: `${module}.bias` });
  const layers: EncoderLayer[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `bert.encoder.layer.${i}`;
    const input = i === 0 ? 'bert.embeddings' : `bert.encoder.layer.${i - 1}`;
    layers.push({
      norms: 'post',
      query: linear(`${p}.attention.self.query`),
      key: linear(`${p}.attention.self.key`),
      value: linear(`${p}.attention.self.value`),
      attentionOutput: linear(`${p}.attention.output.dense`),
      attentionResidual: { residual: [input], sublayer: `${p}.attention.output.dense` },
      attentionNorm: norm(`${p}.attention.output.LayerNorm`),
      mlpIn: linear(`${p}.intermediate.dense`),
      mlpOut: linear(`${p}.output.dense`),
      mlpResidual: { residual: [`${p}.attention.output`], sublayer: `${p}.output.dense` },
      mlpNorm: norm(`${p}.output.LayerNorm`),
    });
  }
  let head: HeadStep[];
  if (config.head === 'masked-lm') {
    const decoder: LinearPiece = {
      // The last layer: its outputs (vocabulary logits) get no map, so its activations are never read or captured.
      weight: config.tiedDecoder ? WORD : 'cls.predictions.decoder.weight', bias: 'cls.predictions.bias', acts: 'cls.predictions.decoder',
    };
    head = [
      { kind: 'linear', label: 'mlm transform', piece: linear('cls.predictions.transform.dense'), ...(config.tiedDecoder ? { outputMapOf: WORD } : {}) },
      { kind: 'norm', piece: norm('cls.predictions.transform.LayerNorm') },
      { kind: 'output', label: 'mlm decoder', piece: decoder, ...(config.tiedDecoder ? { tiedTo: WORD } : {}) },
    ];
  } else {
    head = [
      { kind: 'linear', label: 'pooler', piece: linear('bert.pooler.dense') },
      { kind: 'output', label: 'classifier', piece: linear('classifier') },
    ];
  }
  return {
    kind: 'encoder',
    embeddings: {
      tables: [
        { name: WORD, label: 'word embeddings', role: 'sublayer' },
        { name: 'bert.embeddings.position_embeddings.weight', label: 'position embeddings', role: 'residual' },
        { name: 'bert.embeddings.token_type_embeddings.weight', label: 'token type embeddings', role: 'own' },
      ],
      projection: null,
      norm: norm('bert.embeddings.LayerNorm'),
    },
    layers,
    finalNorm: null,
    head,
  };
}
