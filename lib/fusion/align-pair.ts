/**
 * Aligns one model (A) onto the anchor (B), layer by layer, following docs/fusion.md:
 * every linear layer's inputs are moved with the map entering it, its own map is
 * computed from A's and B's neurons and its outputs are moved with that; LayerNorms
 * take the map entering them and pass it on; attention and MLP maps meet the residual
 * stream's map at each residual connection (residual-policy.ts). The result is
 * A's weights in B's shapes and neuron order, ready to be averaged with B's.
 */
import type { ActivationStore } from '../activations.ts';
import { InputError, throwIfAborted } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { NativeMatrixPart, NativeNeuronSide, TaskOptions } from '../native.ts';
import { alignInputs, alignOutputs } from './align.ts';
import type { EncoderGraph, EncoderLayer, LinearPiece, NormPiece, ResidualActs } from './graph.ts';
import type { TransportMap } from './maps.ts';
import { applyResidualPolicy, type ResidualActivity } from './residual-policy.ts';
import { actsKey, actsMapProblems, canSolveAhead } from './batched-maps.ts';
import { computeMap, computeSinkhornMaps, type FusionSettings, type MapReport } from './transport.ts';

export interface FusionParent {
  /** For reports and errors, e.g. the model folder. */
  label: string;
  tensors: Map<string, Tensor>;
  /** Finalized activations (needed in acts mode, and for the weighted residual policies). */
  store: ActivationStore | null;
}

/**
 * How a parameter of the fused model is made. `aligned`: A's tensor in B's basis, to be
 * averaged with B's; `non-anchor`: A's tensor as it is (a piece the config says not to
 * fuse: the reference then keeps its model 0's); `anchor`: B's tensor.
 */
export type AlignedTensor = { kind: 'aligned'; data: Float32Array } | { kind: 'non-anchor'; data: Float32Array } | { kind: 'anchor' };

/**
 * The map that moved a linear layer's outputs into the anchor's order: rows are the
 * outputs of `sources` (A's layers, stacked), and the layer's anchor neurons are columns
 * [columnOffset, columnOffset + m) of `map`. Statistics repair carries A's per-neuron
 * statistics to the anchor through it.
 */
export interface OutputMap {
  map: TransportMap;
  sources: string[];
  columnOffset: number;
}

export interface PairAlignment {
  tensors: Map<string, AlignedTensor>;
  maps: MapReport[];
  /** By a linear layer's weight name; absent for layers whose outputs were not moved. */
  outputMaps: Map<string, OutputMap>;
}

/** The neurons of a map; `key` (activation maps only) is what a map solved ahead is found by. */
type Sides = { a: NativeNeuronSide; b: NativeNeuronSide; key?: string };

/** A linear layer's weight and bias with the inputs already moved into the anchor's basis. */
interface InputAligned {
  piece: LinearPiece;
  weight: Float32Array;
  bias: Float32Array | null;
  rows: number;
  cols: number;
}

class PairWalk {
  readonly out = new Map<string, AlignedTensor>();
  readonly maps: MapReport[] = [];
  readonly outputMaps = new Map<string, OutputMap>();
  /** The map each value table was aligned with, by tensor name. */
  readonly tableMaps = new Map<string, TransportMap>();
  /** Maps solved ahead of the walk (solveAhead), by actsKey; each is taken once. */
  readonly ahead = new Map<string, { map: TransportMap; report: MapReport }>();

  constructor(
    readonly graph: EncoderGraph,
    readonly a: FusionParent,
    readonly b: FusionParent,
    readonly settings: FusionSettings,
    readonly task: PairTask,
  ) {}

  // --- access ---------------------------------------------------------------------------

  tensor(who: 'a' | 'b', name: string): Tensor {
    const parent = who === 'a' ? this.a : this.b;
    const t = parent.tensors.get(name);
    if (!t) throw new InputError(parent.label, `has no tensor '${name}'`);
    return t;
  }

  floats(who: 'a' | 'b', name: string): Float32Array {
    const t = this.tensor(who, name);
    if (!(t.data instanceof Float32Array)) throw new InputError((who === 'a' ? this.a : this.b).label, `${name} holds ${t.dtype} values, not floating point`);
    return t.data;
  }

  /** Rows of a weight seen as out x in (trailing dimensions flattened). */
  rows(who: 'a' | 'b', name: string): number {
    return this.tensor(who, name).shape[0];
  }

  actsPart(who: 'a' | 'b', name: string): NativeMatrixPart {
    const store = (who === 'a' ? this.a : this.b).store;
    if (!store) throw new Error('activations were not captured for this model');
    return { store: store.native, name };
  }

  actsSides(names: string[], concat: 'features' | 'neurons' = 'features'): Sides {
    const side = (who: 'a' | 'b'): NativeNeuronSide => ({ layout: 'columns', concat, parts: names.map((n) => this.actsPart(who, n)) });
    return { a: side('a'), b: side('b'), key: actsKey(names, concat) };
  }

  /** Solves the pair's activation maps together, before the walk (batched-maps.ts). */
  async solveAhead(): Promise<void> {
    const problems = actsMapProblems(this.graph, this.settings, (who, weight) => this.rows(who, weight));
    const solved = await computeSinkhornMaps(problems.map((p) => ({ ...this.actsSides(p.names, p.concat), piece: p.piece, size: p })), this.settings, this.task);
    problems.forEach((p, k) => this.ahead.set(p.key, solved[k]));
  }

  // --- outputs --------------------------------------------------------------------------

  aligned(name: string, data: Float32Array): void {
    const want = this.tensor('b', name).data.length;
    if (data.length !== want) throw new RangeError(`${name}: aligned tensor has ${data.length} values, the anchor's ${want}`);
    this.out.set(name, { kind: 'aligned', data });
  }

  keepNonAnchor(...names: Array<string | null>): void {
    for (const n of names) if (n) this.out.set(n, { kind: 'non-anchor', data: this.floats('a', n) });
  }

  keepAnchor(...names: Array<string | null>): void {
    for (const n of names) if (n) this.out.set(n, { kind: 'anchor' });
  }

  // --- pieces ---------------------------------------------------------------------------

  /** Step 1 of a linear layer: W_A · T_in (and the bias as it is). */
  async alignLinearInputs(p: LinearPiece, tIn: TransportMap | null): Promise<InputAligned> {
    const rows = this.rows('a', p.weight);
    let weight = this.floats('a', p.weight);
    if (tIn) weight = await alignInputs(weight, rows, tIn, this.task);
    const cols = weight.length / rows;
    const colsB = this.floats('b', p.weight).length / this.rows('b', p.weight);
    if (cols !== colsB) throw new InputError(this.a.label, `${p.weight}: ${cols} inputs after alignment, the anchor's layer has ${colsB}`);
    return { piece: p, weight, bias: p.bias ? this.floats('a', p.bias) : null, rows, cols };
  }

  /** The neurons a linear layer's map is computed from: its activations, or its (input-aligned) weight rows. */
  linearSides(x: InputAligned): Sides {
    if (this.settings.type === 'acts') return this.actsSides([x.piece.acts]);
    const b = this.floats('b', x.piece.weight);
    return {
      a: { layout: 'rows', parts: [{ data: x.weight, rows: x.rows, cols: x.cols }] },
      b: { layout: 'rows', parts: [{ data: b, rows: this.rows('b', x.piece.weight), cols: x.cols }] },
    };
  }

  async map(piece: string, sides: Sides, n: number, m: number, tIn: TransportMap | null, features?: number): Promise<TransportMap> {
    const ahead = sides.key === undefined ? undefined : this.ahead.get(sides.key);
    if (ahead && ahead.map.n === n && ahead.map.m === m) {
      this.ahead.delete(sides.key!);
      this.maps.push({ ...ahead.report, piece });
      return ahead.map;
    }
    const { map, report } = await computeMap(piece, sides.a, sides.b, { n, m, features }, this.settings, tIn, this.task);
    this.maps.push(report);
    return map;
  }

  /** Steps 3-4: outputs moved with `t` (or left, for the last fused layer), recorded for averaging. */
  async finishLinear(x: InputAligned, t: TransportMap | null): Promise<void> {
    const { piece: p } = x;
    let weight = x.weight, bias = x.bias;
    if (t) {
      this.outputMaps.set(p.weight, { map: t, sources: [p.acts], columnOffset: 0 });
      weight = await alignOutputs(weight, x.cols, t, this.task);
      if (bias && this.settings.fuse_bias) bias = await alignOutputs(bias, 1, t, this.task);
    } else if (x.rows !== this.rows('b', p.weight)) {
      throw new InputError(this.a.label, `${p.weight}: the last fused layer has ${x.rows} outputs, the anchor's ${this.rows('b', p.weight)}; they must match to be averaged`);
    }
    this.aligned(p.weight, weight);
    if (p.bias) {
      if (this.settings.fuse_bias) this.aligned(p.bias, bias!);
      else this.keepAnchor(p.bias);
    }
  }

  /** A linear layer (the reference's fc_fusion); returns its map, or null when it is the last fused layer. */
  async linear(piece: string, p: LinearPiece, tIn: TransportMap | null, last: boolean): Promise<TransportMap | null> {
    const x = await this.alignLinearInputs(p, tIn);
    const t = last ? null : await this.map(piece, this.linearSides(x), x.rows, this.rows('b', p.weight), tIn);
    await this.finishLinear(x, t);
    return t;
  }

  /** A LayerNorm (the reference's ln_fusion): scale and shift aligned with the map entering it. */
  async norm(p: NormPiece, t: TransportMap | null): Promise<void> {
    for (const name of [p.weight, p.bias]) {
      const v = this.floats('a', name);
      this.aligned(name, t ? await alignInputs(v, 1, t, this.task) : v);
    }
  }

  /**
   * A value whose neurons are its last dimension and whose features are the stored values
   * (class token, position embeddings): aligned by its own values, in both modes.
   */
  async valueEmbedding(piece: string, name: string): Promise<TransportMap> {
    const width = (who: 'a' | 'b') => { const s = this.tensor(who, name).shape; return s[s.length - 1]; };
    const nA = width('a'), nB = width('b');
    const va = this.floats('a', name), vb = this.floats('b', name);
    const rows = va.length / nA;
    if (vb.length / nB !== rows) throw new InputError(this.a.label, `${name}: ${rows} rows, the anchor's has ${vb.length / nB}; the models must share the sequence layout`);
    const t = await this.map(piece, {
      a: { layout: 'columns', parts: [{ data: va, rows, cols: nA }] },
      b: { layout: 'columns', parts: [{ data: vb, rows, cols: nB }] },
    }, nA, nB, null, rows);
    this.aligned(name, await alignInputs(va, rows, t, this.task));
    return t;
  }

  residual(tRes: TransportMap | null, tSub: TransportMap, activity: () => ResidualActivity): Promise<TransportMap> {
    return applyResidualPolicy(this.settings.resid_policy, tRes, tSub, activity, this.task);
  }

  anchorActivity(acts: ResidualActs): () => ResidualActivity {
    return () => ({ residual: acts.residual.map((n) => this.actsPart('b', n)), sublayer: [this.actsPart('b', acts.sublayer)] });
  }

  /** A table's values as a matrix with one column per hidden unit (the activity of a table branch). */
  tableActivity(name: string): NativeMatrixPart {
    const data = this.floats('b', name), width = this.tensor('b', name).shape.at(-1)!;
    return { data, rows: data.length / width, cols: width };
  }

  /**
   * The embeddings: every table by its own values, the projection by its activations (or
   * weights); the map entering the encoder is the residual policy over the residual
   * branch (a table) and the sublayer branch (the projection or a table), and the
   * embeddings' LayerNorm, if any, takes it.
   */
  async embeddings(): Promise<TransportMap | null> {
    const e = this.graph.embeddings;
    if (!this.settings.fuse_src_embed) {
      // The LayerNorm of the embeddings belongs to them: with the anchor's tables, the anchor's LayerNorm.
      this.keepAnchor(...e.tables.map((t) => t.name), e.projection?.piece.weight ?? null, e.projection?.piece.bias ?? null, e.norm?.weight ?? null, e.norm?.bias ?? null);
      return null;
    }
    let tRes: TransportMap | null = null, tSub: TransportMap | null = null;
    let resActivity: (() => NativeMatrixPart) | null = null, subActivity: (() => NativeMatrixPart) | null = null;
    for (const table of e.tables) {
      const t = await this.valueEmbedding(table.label, table.name);
      this.tableMaps.set(table.name, t);
      if (table.role === 'residual') [tRes, resActivity] = [t, () => this.tableActivity(table.name)];
      else if (table.role === 'sublayer') [tSub, subActivity] = [t, () => this.tableActivity(table.name)];
    }
    if (e.projection) {
      const piece = e.projection.piece;
      tSub = await this.linear(e.projection.label, piece, null, false);
      subActivity = () => this.actsPart('b', piece.acts);
    }
    if (!tSub || !subActivity) throw new Error('fusion graph: the embeddings have no sublayer branch (a projection or a sublayer table)');
    const sub = subActivity;
    const t = await this.residual(tRes, tSub, () => ({ residual: resActivity ? [resActivity()] : [], sublayer: [sub()] }));
    if (e.norm) {
      if (this.settings.fuse_norm) await this.norm(e.norm, t);
      else this.keepNonAnchor(e.norm.weight, e.norm.bias);
    }
    return t;
  }

  /** Q and K sharing one map (eq_t_map), or aligned as one stacked layer (joint). */
  async sharedQK(index: number, layer: EncoderLayer, tIn: TransportMap | null, mode: 'eq_t_map' | 'joint'): Promise<void> {
    const xq = await this.alignLinearInputs(layer.query, tIn), xk = await this.alignLinearInputs(layer.key, tIn);
    const m = this.rows('b', layer.query.weight);
    if (mode === 'eq_t_map') {
      // One neuron = its Q and K activations (or weight rows) together.
      const sides = this.settings.type === 'acts'
        ? this.actsSides([layer.key.acts, layer.query.acts], 'features')
        : this.weightSides([xq, xk], [layer.query, layer.key], 'features');
      const t = await this.map(`layer ${index} query+key (eq_t_map)`, sides, xq.rows, m, tIn);
      await this.finishLinear(xq, t);
      await this.finishLinear(xk, t);
      return;
    }
    // joint: Q and K stacked as one layer of 2n neurons. (The reference stacks the weights
    // as [Q; K] but the activations as [K, Q]; here both are [Q; K].)
    const stacked = (x: InputAligned, y: InputAligned, pick: (z: InputAligned) => Float32Array | null) => {
      const u = pick(x), v = pick(y);
      if (!u || !v) return null;
      const s = new Float32Array(u.length + v.length);
      s.set(u);
      s.set(v, u.length);
      return s;
    };
    const joint: InputAligned = {
      piece: { weight: layer.query.weight, bias: null, acts: '' },
      weight: stacked(xq, xk, (z) => z.weight)!, bias: stacked(xq, xk, (z) => z.bias), rows: 2 * xq.rows, cols: xq.cols,
    };
    const sides = this.settings.type === 'acts'
      ? this.actsSides([layer.query.acts, layer.key.acts], 'neurons')
      : this.weightSides([xq, xk], [layer.query, layer.key], 'neurons');
    const t = await this.map(`layer ${index} query+key (joint)`, sides, joint.rows, 2 * m, tIn);
    const w = await alignOutputs(joint.weight, joint.cols, t, this.task);
    this.outputMaps.set(layer.query.weight, { map: t, sources: [layer.query.acts, layer.key.acts], columnOffset: 0 });
    this.outputMaps.set(layer.key.weight, { map: t, sources: [layer.query.acts, layer.key.acts], columnOffset: m });
    this.aligned(layer.query.weight, w.subarray(0, m * joint.cols));
    this.aligned(layer.key.weight, w.subarray(m * joint.cols));
    if (layer.query.bias && layer.key.bias) {
      if (this.settings.fuse_bias && joint.bias) {
        const b = await alignOutputs(joint.bias, 1, t, this.task);
        this.aligned(layer.query.bias, b.subarray(0, m));
        this.aligned(layer.key.bias, b.subarray(m));
      } else {
        this.keepAnchor(layer.query.bias, layer.key.bias);
      }
    }
  }

  /** Weight rows of several layers joined (wts mode's eq_t_map and joint). */
  weightSides(xs: InputAligned[], pieces: LinearPiece[], concat: 'features' | 'neurons'): Sides {
    return {
      a: { layout: 'rows', concat, parts: xs.map((x) => ({ data: x.weight, rows: x.rows, cols: x.cols })) },
      b: {
        layout: 'rows', concat,
        parts: pieces.map((p) => { const rows = this.rows('b', p.weight); const d = this.floats('b', p.weight); return { data: d, rows, cols: d.length / rows }; }),
      },
    };
  }

  async attention(index: number, layer: EncoderLayer, tIn: TransportMap | null, last: boolean): Promise<TransportMap | null> {
    const qk = this.settings.qk_fusion;
    if (qk === 'separate') {
      await this.linear(`layer ${index} query`, layer.query, tIn, false);
      await this.linear(`layer ${index} key`, layer.key, tIn, false);
    } else {
      await this.sharedQK(index, layer, tIn, qk);
    }
    const tV = await this.linear(`layer ${index} value`, layer.value, tIn, false);
    return this.linear(`layer ${index} attention output`, layer.attentionOutput, tV, last);
  }

  /** A LayerNorm of an encoder layer, or the non-anchor model's when LayerNorms are not fused (as in the reference). */
  async layerNorm(p: NormPiece, t: TransportMap | null): Promise<void> {
    if (this.settings.fuse_norm) await this.norm(p, t);
    else this.keepNonAnchor(p.weight, p.bias);
  }

  /** One encoder layer (the reference's encoder_fusion), pre- or post-LN; returns the map leaving it. */
  async encoderLayer(index: number, layer: EncoderLayer, tIn: TransportMap | null, last: boolean): Promise<TransportMap | null> {
    const s = this.settings;
    const post = layer.norms === 'post';
    if (!post) await this.layerNorm(layer.attentionNorm, tIn);

    let t = tIn;
    if (s.fuse_sa) {
      const tSub = await this.attention(index, layer, tIn, last && !s.fuse_fc);
      if (tSub) t = await this.residual(tIn, tSub, this.anchorActivity(layer.attentionResidual));
    } else {
      for (const p of [layer.query, layer.key, layer.value, layer.attentionOutput]) this.keepNonAnchor(p.weight, p.bias);
    }

    // Pre-LN: the MLP's LayerNorm; post-LN: the attention's, after the residual sum.
    await this.layerNorm(post ? layer.attentionNorm : layer.mlpNorm, t);

    let out: TransportMap | null;
    if (!s.fuse_fc) {
      for (const p of [layer.mlpIn, layer.mlpOut]) this.keepNonAnchor(p.weight, p.bias);
      out = last ? null : t;
    } else {
      const t1 = await this.linear(`layer ${index} mlp in`, layer.mlpIn, t, false);
      const t2 = await this.linear(`layer ${index} mlp out`, layer.mlpOut, t1, last);
      out = t2 ? await this.residual(t, t2, this.anchorActivity(layer.mlpResidual)) : null;
    }
    if (post) await this.layerNorm(layer.mlpNorm, out);
    return out;
  }

  /** The head: hidden layers and LayerNorms with the map coming in, then the output layer (outputs kept in order). */
  async head(tIn: TransportMap | null): Promise<void> {
    const steps = this.graph.head;
    if (!this.settings.fuse_gen) {
      for (const st of steps) {
        if (st.kind === 'output' && st.tiedTo) this.keepAnchor(st.piece.bias);
        else this.keepAnchor(st.piece.weight, st.piece.bias);
      }
      return;
    }
    let t = tIn;
    for (const st of steps) {
      if (st.kind === 'norm') {
        await this.norm(st.piece, t);
      } else if (st.kind === 'linear') {
        const tied = st.outputMapOf ? this.tableMaps.get(st.outputMapOf) : undefined;
        if (tied) {
          // Its outputs are what a tied decoder reads against the table: they take the table's map.
          await this.finishLinear(await this.alignLinearInputs(st.piece, t), tied);
          t = tied;
        } else {
          t = await this.linear(st.label, st.piece, t, false);
        }
      } else if (st.tiedTo) {
        // The weight is the table, already aligned (once) with the embeddings; the head's map is
        // the table's by construction (or the table is the anchor's, and so is the decoder).
        const table = this.tableMaps.get(st.tiedTo);
        if (table && t !== table) throw new Error(`fusion graph: ${st.label} is tied to ${st.tiedTo} but its input map is not the table's`);
        if (st.piece.bias) {
          if (this.settings.fuse_bias) this.aligned(st.piece.bias, this.floats('a', st.piece.bias));
          else this.keepAnchor(st.piece.bias);
        }
      } else {
        await this.linear(st.label, st.piece, t, true);
      }
    }
  }

  async run(): Promise<void> {
    const p = this.settings.resid_policy;
    if ((p === 'weighted_scalar' || p === 'weighted_matrix') && !this.b.store)
      throw new InputError('fusion.resid_policy', `${p} weighs maps by the anchor's activations, which were not captured`);
    if (canSolveAhead(this.settings) && (this.task.solveAhead ?? this.a.store?.device === 'cuda')) await this.solveAhead();
    let t = await this.embeddings();
    this.task.afterStage?.(0);
    for (let i = 0; i < this.graph.layers.length; i++) {
      throwIfAborted(this.task.signal);
      const last = i === this.graph.layers.length - 1 && !this.settings.fuse_gen;
      t = await this.encoderLayer(i, this.graph.layers[i], t, last);
      this.task.afterStage?.(i + 1);
    }
    if (this.graph.finalNorm) await this.norm(this.graph.finalNorm, t);
    await this.head(t);
    this.task.afterStage?.(this.graph.layers.length + 1);
  }
}

export interface PairTask extends TaskOptions {
  /**
   * Solve the activation maps together before the walk (canSolveAhead settings only).
   * Default: when the activations live on the GPU, where batching pays; on the CPU each
   * map is solved when the walk reaches it, which keeps one map in memory at a time.
   */
  solveAhead?: boolean;
  /** Called when the walk is done with a stage of activationsByStage(graph) (0: embeddings, i + 1: layer i, then the head). */
  afterStage?: (stage: number) => void;
}

/** Aligns model `a` onto the anchor `b`; both must follow `graph`. */
export async function alignPair(
  graph: EncoderGraph, a: FusionParent, b: FusionParent, settings: FusionSettings, task: PairTask = {},
): Promise<PairAlignment> {
  if (settings.type === 'acts' && (!a.store || !b.store)) throw new Error('alignPair: acts mode needs activation stores for both models');
  const walk = new PairWalk(graph, a, b, settings, task);
  await walk.run();
  return { tensors: walk.out, maps: walk.maps, outputMaps: walk.outputMaps };
}
