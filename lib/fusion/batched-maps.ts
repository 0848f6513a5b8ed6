/**
 * Activations mode with Sinkhorn: every layer's map depends on the captured activations
 * alone, never on the maps before it, so a pair's maps can be solved before the walk and
 * together, which on a GPU turns a model's dozens of small Sinkhorn problems into a few
 * batched solves (fusion::transport_maps). This lists those problems, in walk order, with
 * the keys the walk asks for them by (PairWalk.actsSides); what the list leaves out (the
 * head's hidden layers) the walk computes when it meets it.
 */
import type { EncoderGraph, LinearPiece } from './graph.ts';
import type { FusionSettings } from './transport.ts';

/** A map between two models' activation entries; `key` names the entries and how they are joined. */
export interface ActsMapProblem {
  key: string;
  piece: string;
  names: string[];
  concat: 'features' | 'neurons';
  n: number;
  m: number;
}

/** The key of the map between the entries `names` of both models, joined as `concat`. */
export function actsKey(names: string[], concat: 'features' | 'neurons'): string {
  return `${concat}:${names.join('+')}`;
}

/** True when the pair's maps can be solved ahead of the walk: activations mode, plain Sinkhorn, no PCA. */
export function canSolveAhead(settings: FusionSettings): boolean {
  return settings.type === 'acts' && settings.ot_solver === 'sinkhorn' && !settings.pca;
}

/**
 * The activation maps the walk of `graph` will ask for (PairWalk: embeddings, then each
 * layer's attention and MLP), with sizes from `rows(model, weight)`: output neurons of a
 * weight in model A (aligned) or B (the anchor).
 */
export function actsMapProblems(graph: EncoderGraph, settings: FusionSettings, rows: (who: 'a' | 'b', weight: string) => number): ActsMapProblem[] {
  const out: ActsMapProblem[] = [];
  const add = (piece: string, names: string[], concat: 'features' | 'neurons', n: number, m: number) =>
    out.push({ key: actsKey(names, concat), piece, names, concat, n, m });
  const linear = (piece: string, p: LinearPiece) => add(piece, [p.acts], 'features', rows('a', p.weight), rows('b', p.weight));
  const e = graph.embeddings.projection;
  if (settings.fuse_src_embed && e) linear(e.label, e.piece);
  graph.layers.forEach((layer, i) => {
    // The walk leaves the outputs of the last fused layer where they are (no map).
    const last = i === graph.layers.length - 1 && !settings.fuse_gen;
    if (settings.fuse_sa) {
      const q = layer.query, k = layer.key;
      if (settings.qk_fusion === 'separate') {
        linear(`layer ${i} query`, q);
        linear(`layer ${i} key`, k);
      } else if (settings.qk_fusion === 'eq_t_map') {
        add(`layer ${i} query+key (eq_t_map)`, [k.acts, q.acts], 'features', rows('a', q.weight), rows('b', q.weight));
      } else {
        add(`layer ${i} query+key (joint)`, [q.acts, k.acts], 'neurons', 2 * rows('a', q.weight), 2 * rows('b', q.weight));
      }
      linear(`layer ${i} value`, layer.value);
      if (!(last && !settings.fuse_fc)) linear(`layer ${i} attention output`, layer.attentionOutput);
    }
    if (settings.fuse_fc) {
      linear(`layer ${i} mlp in`, layer.mlpIn);
      if (!last) linear(`layer ${i} mlp out`, layer.mlpOut);
    }
  });
  return out;
}
