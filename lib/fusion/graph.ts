/**
 * The pieces of a transformer that the fusion walks, by the names of their parameters
 * and captured activations. Model adapters (lib/models/*) describe their architecture
 * with these; the fusion itself never sees architecture-specific names.
 */

/** A linear layer: weight (out x in, any trailing shape flattening to in), optional bias, and its output activations. */
export interface LinearPiece {
  weight: string;
  bias: string | null;
  /** Activation entry of the layer's output (before any nonlinearity). */
  acts: string;
}

/** A LayerNorm: per-neuron scale and shift. */
export interface NormPiece {
  weight: string;
  bias: string;
}

/** Activation entries whose activity weighs a residual connection's maps (weighted policies). */
export interface ResidualActs {
  /** The residual stream entering the connection: the sum of these entries. */
  residual: string[];
  /** The sublayer output added to it. */
  sublayer: string;
}

/** A pre-LN encoder layer (ViT): LN, attention, residual, LN, MLP, residual. */
export interface PreNormLayer {
  attentionNorm: NormPiece;
  query: LinearPiece;
  key: LinearPiece;
  value: LinearPiece;
  attentionOutput: LinearPiece;
  attentionResidual: ResidualActs;
  mlpNorm: NormPiece;
  mlpIn: LinearPiece;
  mlpOut: LinearPiece;
  mlpResidual: ResidualActs;
}

/**
 * Patch-based embeddings (ViT): a class token and position embeddings (each hidden unit
 * a neuron whose features are the stored values) and a patch projection (a linear layer
 * on flattened patches).
 */
export interface PatchEmbeddings {
  classToken: string;
  positions: string;
  patch: LinearPiece;
}

/** A classification transformer: embeddings, pre-LN encoder layers, final LN, classifier. */
export interface EncoderClassifierGraph {
  kind: 'pre-norm-encoder-classifier';
  embeddings: PatchEmbeddings;
  layers: PreNormLayer[];
  finalNorm: NormPiece;
  classifier: LinearPiece;
}

export type FusionGraph = EncoderClassifierGraph;

/** Every activation entry the fusion of `graph` reads: what a capture must keep, and nothing more. */
export function graphActivations(graph: FusionGraph): string[] {
  const names = new Set<string>([graph.embeddings.patch.acts]);
  for (const l of graph.layers) {
    for (const p of [l.query, l.key, l.value, l.attentionOutput, l.mlpIn, l.mlpOut]) names.add(p.acts);
    for (const r of [l.attentionResidual, l.mlpResidual]) {
      for (const n of r.residual) names.add(n);
      names.add(r.sublayer);
    }
  }
  return [...names];
}
