/**
 * OT fusion of N models into the anchor's shape: every other model is aligned onto the
 * anchor (align-pair.ts), then all are averaged with their weights (average.ts).
 */
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { TaskOptions } from '../native.ts';
import { alignPair, type FusionParent, type OutputMap, type PairAlignment } from './align-pair.ts';
import { averageAligned, modelWeights } from './average.ts';
import { activationsByStage, type FusionGraph } from './graph.ts';
import type { FusionSettings, MapReport } from './transport.ts';

export type { FusionParent, OutputMap } from './align-pair.ts';
export type { FusionGraph } from './graph.ts';
export type { FusionSettings, MapReport } from './transport.ts';
export { sameShapes, vanillaAverage, modelWeights } from './average.ts';

export interface FuseOptions extends TaskOptions {
  /** Index of the anchor in `models`. */
  anchor: number;
  /** Per-model weights (normalised); default 1/N each. */
  weights?: number[] | null;
  /** Called after each model has been aligned. */
  onModelAligned?: (index: number, maps: MapReport[]) => void;
  /**
   * Give each activation entry's memory back as soon as the walk has passed its last
   * use (the anchor's during the last pair only). The stores are spent afterwards: for
   * callers that capture for this fusion alone, as the pipeline does.
   */
  releaseActivations?: boolean;
  /** Solve each pair's activation maps together before its walk (PairTask.solveAhead; default: activations on the GPU). */
  solveAhead?: boolean;
}

export interface FusionResult {
  tensors: Map<string, Tensor>;
  /** Per model (empty for the anchor): every map computed while aligning it. */
  maps: MapReport[][];
  /** Per model (null for the anchor): the map that moved each linear layer's outputs. */
  outputMaps: Array<Map<string, OutputMap> | null>;
  weights: number[];
}

/** A walk's afterStage hook that releases, from each model's store, the entries no later stage reads. */
function releaseBehind(graph: FusionGraph, models: FusionParent[]): (stage: number) => void {
  const lastUse = new Map<string, number>();
  activationsByStage(graph).forEach((names, stage) => names.forEach((n) => lastUse.set(n, stage)));
  // Each store's entries, read once (release is idempotent; a store need not hold every entry).
  const stores = models.flatMap((m) => (m.store ? [{ store: m.store, names: new Set(m.store.entries().map((e) => e.name)) }] : []));
  return (stage) => {
    for (const [name, last] of lastUse)
      if (last === stage) for (const { store, names } of stores) if (names.has(name)) store.release(name);
  };
}

/**
 * Settings that keep a part of one model unfused, or leave a layer's outputs unaligned,
 * need the models to agree in width there: refused by key when they do not. The hidden
 * width runs through every part; the MLP width through the MLPs only. The pipelines call
 * this before capturing activations, fuse() again.
 */
const KEPT_PARTS: Array<[keyof FusionSettings, 'hidden' | 'mlp', string]> = [
  ['fuse_src_embed', 'hidden', 'keeps the anchor\'s embeddings, so the other models\' hidden units enter the encoder unaligned'],
  ['fuse_sa', 'hidden', 'keeps the non-anchor models\' attention weights unfused'],
  ['fuse_norm', 'hidden', 'keeps the non-anchor models\' LayerNorms unfused'],
  ['fuse_fc', 'mlp', 'keeps the non-anchor models\' MLPs unfused'],
  ['fuse_gen', 'hidden', 'keeps the anchor\'s head and leaves the last layer\'s outputs unaligned'],
];

export function checkWidthSettings(models: Array<Map<string, Tensor>>, graph: FusionGraph, settings: FusionSettings): void {
  const widths = (name: string) => new Set(models.map((m) => m.get(name)?.shape[0]));
  const hiddenDiffers = graph.layers.length > 0 && widths(graph.layers[0].attentionNorm.weight).size > 1;
  const mlpDiffers = hiddenDiffers || graph.layers.some((l) => widths(l.mlpIn.weight).size > 1);
  for (const [key, width, what] of KEPT_PARTS)
    if (settings[key] === false && (width === 'hidden' ? hiddenDiffers : mlpDiffers))
      throw new InputError(`fusion.${key}`, `false ${what}, which needs models of one ${width === 'hidden' ? 'hidden' : 'MLP'} width; these differ (heterogeneous fusion fuses that part)`);
}

/** `graphs[i]` describes model i (the same names; shapes may differ in width). */
export async function fuse(models: FusionParent[], graph: FusionGraph, settings: FusionSettings, options: FuseOptions): Promise<FusionResult> {
  if (models.length < 2) throw new InputError('fusion.num_models', `fusion needs at least two models, got ${models.length}`);
  if (!(options.anchor >= 0 && options.anchor < models.length)) throw new RangeError(`fuse: anchor ${options.anchor} out of range`);
  checkWidthSettings(models.map((m) => m.tensors), graph, settings);
  const weights = modelWeights(models.length, options.weights);
  const anchor = models[options.anchor];
  const lastPair = options.anchor === models.length - 1 ? models.length - 2 : models.length - 1;
  const pairs: Array<PairAlignment | null> = [];
  for (let i = 0; i < models.length; i++) {
    if (i === options.anchor) {
      pairs.push(null);
      continue;
    }
    const release = options.releaseActivations ? releaseBehind(graph, [models[i], ...(i === lastPair ? [anchor] : [])]) : undefined;
    const pair = await alignPair(graph, models[i], anchor, settings, { ...options, afterStage: release });
    options.onModelAligned?.(i, pair.maps);
    pairs.push(pair);
  }
  const tensors = await averageAligned(anchor.tensors, pairs, weights, options);
  return { tensors, maps: pairs.map((p) => p?.maps ?? []), outputMaps: pairs.map((p) => p?.outputMaps ?? null), weights };
}
