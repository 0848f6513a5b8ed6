/**
 * Statistics repair (beyond the paper; after REPAIR, Jordan et al. 2022): averaging
 * aligned weights shrinks and shifts each neuron's activation statistics. Walking the
 * fused model in forward order, every hidden linear output (ViT's patch projection, Q,
 * K, V, attention output, both MLP layers, the head's hidden layers such as BERT's MLM
 * transform or pooler; not the output layer, whose outputs are classes or vocabulary
 * entries) is measured on the fusion samples and its weights and bias rescaled so that each
 * neuron's mean and standard deviation match a target:
 *
 *   anchor  the anchor's statistics;
 *   mean    the parents' statistics, each carried into the anchor's neuron order through
 *           its transport map, averaged with the fusion weights.
 *
 * Each group of layers is measured after everything before it was repaired; the samples'
 * residual streams are carried from layer to layer and the measured group's outputs are
 * rescaled with its weights instead of computed again (FusedMeasures), so the whole walk
 * costs about two forward passes. A layer without a bias can only be rescaled, not shifted.
 */
import { InputError, throwIfAborted } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import { native } from '../native.ts';
import type { OutputMap } from './align-pair.ts';
import { hiddenLinearGroups, type FusionGraph, type LinearPiece } from './graph.ts';

export type RepairTarget = 'none' | 'anchor' | 'mean';

export interface NeuronStats {
  mean: Float64Array;
  std: Float64Array;
}

/** Measures models on the fusion samples (lib/pipeline/measure.ts). */
export interface RepairMeasures {
  /** The named linear outputs of parent `model` with the given tensors, in one pass. */
  parent(model: number, tensors: Map<string, Tensor>, acts: string[]): Promise<Map<string, NeuronStats>>;
  /** A session on the fused model (the anchor's shape) with these tensors. */
  fused(tensors: Map<string, Tensor>): Promise<FusedMeasures>;
}

/** How repair changed a linear layer's outputs: each output y_j became scale_j y_j + shift_j. */
export interface RescaledOutputs {
  acts: string;
  scale: Float64Array;
  shift: Float64Array;
}

/**
 * The fused model measured group by group in forward order while repair rescales it:
 * each measurement starts where the previous one left the samples (the residual streams
 * entering its layer, or inside it, right after the group measured last, whose outputs
 * are rescaled with its weights), so the whole walk costs about two forward passes.
 */
export interface FusedMeasures {
  /** The named outputs with the weights as they are now; never a layer before the last one measured. */
  measure(acts: string[]): Promise<Map<string, NeuronStats>>;
  /**
   * The named tensors (of the session's map) were changed in place: the model takes their
   * values. `rescaled`, when given, says how they changed the outputs of the group measured
   * last, which then need not be computed again.
   */
  update(names: string[], rescaled?: RescaledOutputs[]): Promise<void>;
  dispose(): void;
}

export interface RepairInput {
  graph: FusionGraph;
  /** The fused model; repaired copies are returned, these are not modified. */
  fused: Map<string, Tensor>;
  /** Every parent's tensors, the anchor's among them. */
  parents: Array<Map<string, Tensor>>;
  anchor: number;
  /** Per parent (null for the anchor): the maps that moved each linear layer's outputs. */
  outputMaps: Array<Map<string, OutputMap> | null>;
  weights: number[];
  measure: RepairMeasures;
  signal?: AbortSignal;
  onGroup?: (done: number, total: number) => void;
}

/**
 * The fused model measured as `measures` measures a parent, with a fresh model and a pass
 * from the inputs for every group: what a staged session must agree with (the tests and
 * bench/fusion/repair.ts compare the two). `anchor` is a parent of the fused model's shape.
 */
export function wholePassMeasures(measures: RepairMeasures, anchor: number): RepairMeasures {
  return {
    parent: (model, tensors, acts) => measures.parent(model, tensors, acts),
    async fused(tensors) {
      return { measure: (acts) => measures.parent(anchor, tensors, acts), async update() {}, dispose() {} };
    },
  };
}

/** The linear layers repair walks, in groups that share an input (measured together), in forward order. */
export function repairGroups(graph: FusionGraph): LinearPiece[][] {
  return hiddenLinearGroups(graph);
}

/** A parent's statistics of one layer moved into the anchor's neuron order (column-normalised map). */
function carry(stats: Map<string, NeuronStats>, piece: LinearPiece, om: OutputMap | undefined, m: number): NeuronStats {
  if (!om) {
    const s = stats.get(piece.acts)!;
    if (s.mean.length !== m) throw new InputError(piece.weight, `has ${s.mean.length} outputs in one parent and ${m} in the anchor, with no map between them`);
    return s;
  }
  const src = om.sources.map((name) => stats.get(name)!);
  const mean = new Float64Array(m), std = new Float64Array(m);
  const { data, n, m: cols } = om.map;
  for (let j = 0; j < m; j++) {
    let w = 0, mu = 0, sd = 0;
    for (let i = 0, block = 0, base = 0; i < n; i++) {
      while (i - base >= src[block].mean.length) base += src[block++].mean.length;
      const t = data[i * cols + om.columnOffset + j];
      if (t === 0) continue;
      w += t;
      mu += t * src[block].mean[i - base];
      sd += t * src[block].std[i - base];
    }
    mean[j] = w > 0 ? mu / w : 0;
    std[j] = w > 0 ? sd / w : 0;
  }
  return { mean, std };
}

async function targets(input: RepairInput, target: Exclude<RepairTarget, 'none'>, pieces: LinearPiece[]): Promise<Map<string, NeuronStats>> {
  const acts = pieces.map((p) => p.acts);
  const anchorStats = await input.measure.parent(input.anchor, input.parents[input.anchor], acts);
  if (target === 'anchor') return anchorStats;
  const out = new Map<string, NeuronStats>();
  for (const p of pieces) {
    const m = anchorStats.get(p.acts)!.mean.length;
    out.set(p.acts, { mean: new Float64Array(m), std: new Float64Array(m) });
  }
  for (let i = 0; i < input.parents.length; i++) {
    throwIfAborted(input.signal);
    const stats = i === input.anchor ? anchorStats : await input.measure.parent(i, input.parents[i], acts);
    for (const p of pieces) {
      const t = out.get(p.acts)!;
      const s = i === input.anchor ? anchorStats.get(p.acts)! : carry(stats, p, input.outputMaps[i]?.get(p.weight), t.mean.length);
      for (let j = 0; j < t.mean.length; j++) {
        t.mean[j] += input.weights[i] * s.mean[j];
        t.std[j] += input.weights[i] * s.std[j];
      }
    }
  }
  return out;
}

/** The fused model with its linear outputs' statistics repaired toward `target`. */
export async function repairStatistics(input: RepairInput, target: Exclude<RepairTarget, 'none'>): Promise<Map<string, Tensor>> {
  const groups = repairGroups(input.graph);
  const pieces = groups.flat();
  const want = await targets(input, target, pieces);
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of input.fused) tensors.set(name, { ...t, shape: [...t.shape], data: t.data.slice() });
  const session = await input.measure.fused(tensors);
  try {
    for (const [g, group] of groups.entries()) {
      throwIfAborted(input.signal);
      const stats = await session.measure(group.map((p) => p.acts));
      const rescaled: RescaledOutputs[] = [];
      for (const p of group) {
        const w = tensors.get(p.weight)!, s = stats.get(p.acts)!, t = want.get(p.acts)!;
        const rows = w.shape[0], cols = w.data.length / rows;
        // Without a bias the shift has nowhere to go (a scratch bias takes it): only the spread is matched.
        const bias = p.bias ? (tensors.get(p.bias)!.data as Float32Array) : new Float32Array(rows);
        const { scale, shift } = native().fusionRepairRows(w.data as Float32Array, bias, rows, cols, s.mean, s.std, t.mean, t.std);
        rescaled.push({ acts: p.acts, scale, shift: p.bias ? shift : new Float64Array(rows) });
      }
      await session.update(group.flatMap((p) => (p.bias ? [p.weight, p.bias] : [p.weight])), rescaled);
      input.onGroup?.(g + 1, groups.length);
    }
  } finally {
    session.dispose();
  }
  return tensors;
}
