/**
 * BERT as a later post-LN fusion walk will see it: parameter and activation names of
 * every piece, in the vocabulary of lib/fusion/graph.ts (LinearPiece, NormPiece,
 * ResidualActs). The types for a post-LN encoder live here until the fusion engine
 * takes them over; nothing in lib/fusion reads them yet.
 *
 * Post-LN order per layer (DESIGN.md "BERT"): attention (Q, K, V, output projection),
 * residual policy, attention LayerNorm, MLP (in, out), residual policy, output
 * LayerNorm. The residual stream entering layer i is the embeddings output for i = 0
 * and layer i - 1's output after that; entering the MLP's residual it is the attention
 * block's LayerNorm output. (The reference adds the layer input to that for BERT as it
 * does for the pre-LN ViT; both entries are captured, so a walk can follow either.)
 */
import type { LinearPiece, NormPiece, ResidualActs } from '../fusion/graph.ts';
import type { BertConfig } from './bert.ts';

export interface PostNormLayer {
  query: LinearPiece;
  key: LinearPiece;
  value: LinearPiece;
  attentionOutput: LinearPiece;
  attentionResidual: ResidualActs;
  /** LayerNorm after the attention residual: its input map is the policy's result. */
  attentionNorm: NormPiece;
  mlpIn: LinearPiece;
  mlpOut: LinearPiece;
  mlpResidual: ResidualActs;
  outputNorm: NormPiece;
}

/**
 * Token embeddings: word, position and token-type tables (each hidden unit a neuron
 * whose features are its column of the table), summed and normalised; `acts` is the
 * normalised output.
 */
export interface TokenEmbeddings {
  word: string;
  position: string;
  tokenType: string;
  norm: NormPiece;
  acts: string;
}

export interface MaskedLmHead {
  kind: 'masked-lm';
  transform: LinearPiece;
  /** The transform's LayerNorm; its output is captured as `transformActs`. */
  norm: NormPiece;
  transformActs: string;
  /** Decoder weight (vocab x hidden): the word embeddings when tied, so aligning one aligns the other. */
  decoderWeight: string;
  decoderBias: string;
  tied: boolean;
}

export interface SequenceClassifierHead {
  kind: 'sequence-classification';
  /** Pooler dense on [CLS] (tanh after it); its activations are one row per sequence. */
  pooler: LinearPiece;
  classifier: LinearPiece;
}

export interface PostNormEncoderGraph {
  kind: 'post-norm-encoder';
  embeddings: TokenEmbeddings;
  layers: PostNormLayer[];
  head: MaskedLmHead | SequenceClassifierHead;
}

export function bertFusionGraph(config: BertConfig): PostNormEncoderGraph {
  const linear = (module: string): LinearPiece => ({ weight: `${module}.weight`, bias: `${module}.bias`, acts: module });
  const norm = (module: string): NormPiece => ({ weight: `${module}.weight`, bias: `${module}.bias` });
  const layers: PostNormLayer[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `bert.encoder.layer.${i}`;
    const input = i === 0 ? 'bert.embeddings' : `bert.encoder.layer.${i - 1}`;
    layers.push({
      query: linear(`${p}.attention.self.query`),
      key: linear(`${p}.attention.self.key`),
      value: linear(`${p}.attention.self.value`),
      attentionOutput: linear(`${p}.attention.output.dense`),
      attentionResidual: { residual: [input], sublayer: `${p}.attention.output.dense` },
      attentionNorm: norm(`${p}.attention.output.LayerNorm`),
      mlpIn: linear(`${p}.intermediate.dense`),
      mlpOut: linear(`${p}.output.dense`),
      mlpResidual: { residual: [`${p}.attention.output`], sublayer: `${p}.output.dense` },
      outputNorm: norm(`${p}.output.LayerNorm`),
    });
  }
  const head: MaskedLmHead | SequenceClassifierHead = config.head === 'masked-lm'
    ? {
        kind: 'masked-lm',
        transform: linear('cls.predictions.transform.dense'),
        norm: norm('cls.predictions.transform.LayerNorm'),
        transformActs: 'cls.predictions.transform',
        decoderWeight: config.tiedDecoder ? 'bert.embeddings.word_embeddings.weight' : 'cls.predictions.decoder.weight',
        decoderBias: 'cls.predictions.bias',
        tied: config.tiedDecoder,
      }
    : { kind: 'sequence-classification', pooler: linear('bert.pooler.dense'), classifier: linear('classifier') };
  return {
    kind: 'post-norm-encoder',
    embeddings: {
      word: 'bert.embeddings.word_embeddings.weight',
      position: 'bert.embeddings.position_embeddings.weight',
      tokenType: 'bert.embeddings.token_type_embeddings.weight',
      norm: norm('bert.embeddings.LayerNorm'),
      acts: 'bert.embeddings',
    },
    layers,
    head,
  };
}
