/**
 * The pieces of a transformer encoder that the fusion walks, by the names of their
 * parameters and captured activations. Model adapters (lib/models/*-graph.ts, the ViT's in
 * lib/models/vit.ts) describe their architecture with these; the fusion itself never sees
 * architecture-specific names.
 *
 * An encoder is: embeddings (value tables aligned by their own values, an optional
 * projection of the raw input, an optional LayerNorm), encoder layers whose LayerNorms
 * sit before each sublayer (pre-LN, ViT) or after each residual sum (post-LN, BERT), an
 * optional final LayerNorm, and a head (hidden linear layers and LayerNorms, then the
 * output layer, whose outputs keep their meaning: classes or vocabulary entries).
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

/**
 * One encoder layer: attention, residual, MLP, residual, with two LayerNorms.
 *   pre  (ViT):  attentionNorm, attention, policy, mlpNorm, MLP, policy
 *   post (BERT): attention, policy, attentionNorm, MLP, policy, mlpNorm
 * A pre-LN norm takes the map entering its sublayer; a post-LN norm takes the map the
 * residual policy made of the sum it normalises.
 */
export interface EncoderLayer {
  norms: 'pre' | 'post';
  attentionNorm: NormPiece;
  query: LinearPiece;
  key: LinearPiece;
  value: LinearPiece;
  attentionOutput: LinearPiece;
  attentionResidual: ResidualActs;
  /** pre: the LayerNorm before the MLP; post: the one after the MLP's residual (the layer output). */
  mlpNorm: NormPiece;
  mlpIn: LinearPiece;
  mlpOut: LinearPiece;
  mlpResidual: ResidualActs;
}

/**
 * A stored table whose last dimension is the hidden units: each unit is a neuron whose
 * features are its values (a class token, position, word or token-type embeddings). It is
 * aligned by its own map in both fusion modes.
 *
 * `role` says what its map does beyond aligning the table: the embeddings' map entering
 * the encoder is the residual policy applied to the `residual` branch's map and the
 * `sublayer` branch's map (the projection's, or a table's); an `own` map aligns its table
 * and nothing else.
 */
export interface ValueTable {
  name: string;
  /** How reports name its map, e.g. "position embeddings". */
  label: string;
  role: 'residual' | 'sublayer' | 'own';
}

export interface Embeddings {
  /** Aligned in this order. At most one `residual` table; one `sublayer` branch in all (a table or the projection). */
  tables: ValueTable[];
  /** A linear layer on the raw input (ViT's patch projection): the sublayer branch. */
  projection: { label: string; piece: LinearPiece } | null;
  /** LayerNorm of the summed embeddings (BERT): takes the map entering the encoder. */
  norm: NormPiece | null;
}

/**
 * The head after the encoder, in forward order.
 *   linear  a hidden layer: inputs with the map coming in, outputs with its own map, or,
 *           with `outputMapOf`, with that table's map (its outputs feed a decoder tied to
 *           the table, so they must live in the table's basis);
 *   norm    a LayerNorm, with the map coming in;
 *   output  the last layer: inputs aligned, outputs keep their order. With `tiedTo`, its
 *           weight is that table (aligned with the embeddings, once); only its bias is
 *           fused here.
 */
export type HeadStep =
  | { kind: 'linear'; label: string; piece: LinearPiece; outputMapOf?: string }
  | { kind: 'norm'; piece: NormPiece }
  | { kind: 'output'; label: string; piece: LinearPiece; tiedTo?: string };

export interface EncoderGraph {
  kind: 'encoder';
  embeddings: Embeddings;
  layers: EncoderLayer[];
  /** ViT's LayerNorm after the last layer (fused with the map leaving the encoder, like the head). */
  finalNorm: NormPiece | null;
  head: HeadStep[];
}

export type FusionGraph = EncoderGraph;

/**
 * The activation entries the fusion of `graph` reads, stage by stage in walk order: the
 * embeddings, one stage per encoder layer, then the head. (A layer's residual entries may
 * name the layer before's outputs, so an entry can appear in more than one stage.)
 */
export function activationsByStage(graph: FusionGraph): string[][] {
  const stages: string[][] = [graph.embeddings.projection ? [graph.embeddings.projection.piece.acts] : []];
  for (const l of graph.layers) {
    const names = new Set<string>();
    for (const p of [l.query, l.key, l.value, l.attentionOutput, l.mlpIn, l.mlpOut]) names.add(p.acts);
    for (const r of [l.attentionResidual, l.mlpResidual]) {
      for (const n of r.residual) names.add(n);
      names.add(r.sublayer);
    }
    stages.push([...names]);
  }
  // A tied head layer reads its activations too when its table is not fused (it then gets a map of its own).
  stages.push(graph.head.flatMap((s) => (s.kind === 'linear' ? [s.piece.acts] : [])));
  return stages;
}

/** Every activation entry the fusion of `graph` reads: what a capture must keep, and nothing more. */
export function graphActivations(graph: FusionGraph): string[] {
  return [...new Set(activationsByStage(graph).flat())];
}

/** The hidden linear layers of the graph in forward order (what has an output map), grouped by shared input. */
export function hiddenLinearGroups(graph: FusionGraph): LinearPiece[][] {
  const groups: LinearPiece[][] = [];
  if (graph.embeddings.projection) groups.push([graph.embeddings.projection.piece]);
  for (const l of graph.layers) groups.push([l.query, l.key, l.value], [l.attentionOutput], [l.mlpIn], [l.mlpOut]);
  for (const s of graph.head) if (s.kind === 'linear') groups.push([s.piece]);
  return groups;
}

/** Every tensor name the graph mentions. */
export function graphTensors(graph: FusionGraph): string[] {
  const names: Array<string | null> = [];
  const lin = (p: LinearPiece) => names.push(p.weight, p.bias);
  const nrm = (p: NormPiece) => names.push(p.weight, p.bias);
  for (const t of graph.embeddings.tables) names.push(t.name);
  if (graph.embeddings.projection) lin(graph.embeddings.projection.piece);
  if (graph.embeddings.norm) nrm(graph.embeddings.norm);
  for (const l of graph.layers) {
    [l.query, l.key, l.value, l.attentionOutput, l.mlpIn, l.mlpOut].forEach(lin);
    [l.attentionNorm, l.mlpNorm].forEach(nrm);
  }
  if (graph.finalNorm) nrm(graph.finalNorm);
  for (const s of graph.head) (s.kind === 'norm' ? nrm(s.piece) : lin(s.piece));
  return [...new Set(names.filter((n): n is string => n !== null))];
}
