/**
 * Optimal transport between the neurons of two models: ground-cost matrices, entropic OT
 * (Sinkhorn) and exact OT (earth mover's distance). All three run natively, off the event
 * loop, in float64, and take the usual {@link TaskOptions} (`signal` cancels, `onProgress`
 * reports). Plans are row-major n x m Float64Arrays: rows are model A's neurons, columns
 * model B's (the anchor).
 *
 * ## Options and their defaults (the one reference)
 *
 * ### costMatrix(xa, xb, options)
 * `xa` and `xb` are row-major float32 matrices `{ data, rows, cols }`, or entries of an
 * activation store `{ store, name }` (captured by a model; finalized), which are read
 * where the store keeps them (on the GPU for a model there) without a copy into JavaScript.
 *
 * | option      | default       | meaning |
 * |-------------|---------------|---------|
 * | `layout`    | `'columns'`   | Where the neurons are in `xa`/`xb`: `'columns'` (activations: rows = samples x tokens, one column per neuron) or `'rows'` (weights: one row per output neuron). Both matrices use the same layout. |
 * | `metric`    | `'euclidean'` | `'euclidean'` distance, or `'cosine'` distance 1 - cos (clamped at 0; a zero vector is at distance 1 from everything). |
 * | `squared`   | `false`       | Euclidean only: the squared distance. |
 * | `unitNorm`  | `false`       | Scale each neuron's vector to unit length first, v / (\|v\| + 1e-9): the reference's weights mode (`wts.norm`). |
 * | `normalize` | `'none'`      | Then `'log'` (log1p of every entry), `'max'`, `'median'` (the lower median, as torch) or `'mean'` (divide by that statistic; left unscaled when it is 0), or `'none'`. |
 * | `clip`      | off           | `{ reg, min, max }`: finally clamp to [reg * min, reg * max] (the reference's `gnd_metric.reg/clip_min/clip_max`; with min > max every entry becomes reg * max, as torch.clamp). `reg` defaults to 0.01, `min` to 0, `max` to 1. |
 * | `precision` | `'float64'`   | The products a·b behind both metrics: `'float64'` accumulation (exact to ~1e-12 relative, near-duplicate neurons included) or `'float32'` (one SGEMM, about 2.5x faster on wide activation sets, as precise as the reference's torch costs: ~1e-7 of \|a\|\|b\| per product). CPU only; the GPU always uses float64. |
 *
 * The order is the reference's (ground_metric.py): metric, normalise, clip. Distances are
 * computed as |a|^2 + |b|^2 - 2 a.b with the products accumulated in float64 (unless
 * `precision: 'float32'`), so they agree with a float64 brute force to ~1e-12 relative even
 * for near-duplicate neurons.
 *
 * ### sinkhorn(a, b, cost, options): POT 0.8.2's `ot.sinkhorn` (method 'sinkhorn')
 * | option         | default       | meaning |
 * |----------------|---------------|---------|
 * | `reg`          | required      | Entropic regularisation (POT's `reg`, the reference's `sinkhorn_reg`). Any value > 0: the iteration runs in the log domain, so reg = 1e-4 on costs in [0, 1] neither overflows nor underflows. |
 * | `numItermax`   | `1000`        | Maximum number of iterations (one iteration = the v-update then the u-update). |
 * | `stopThr`      | `1e-9`        | Stop when the marginal error \|\|column sums of the plan - b\|\|_2 drops below this. |
 * | `checkEvery`   | `10`          | The error is measured at iterations 0, checkEvery, 2 checkEvery, ... (POT: every 10th). |
 * | `method`       | `'sinkhorn'`  | `'sinkhorn'`: POT's `sinkhorn_knopp` iterates (u = 1/n, v = 1/m; v = b / Kᵀu, then u = a / Kv), held as potentials against an absorbed kernel: the fast path. `'sinkhorn_log'`: POT's `sinkhorn_log` iterates (a log-sum-exp per row and column each iteration): the same plans, slower; an independent check. |
 * | `epsilonScaling` | off         | `{ regStart, factor, stageItermax, stageStopThr }`: first solve at reg = regStart (default: the largest \|cost\|), regStart * factor (default 0.5), ... down to `reg`, each stage warm-started from the last and stopped after stageItermax iterations (default 100) or at stageStopThr (default 1e-6). Faster for tiny reg; the iterates are then no longer POT's, and `iterations` counts all stages. |
 *
 * With the defaults the plan agrees with POT's `ot.sinkhorn(a, b, M, reg)` on float64 inputs
 * to ~1e-12 relative after the same number of iterations. Two differences: where POT hits
 * 0/inf/NaN (tiny reg, or zero-mass rows and columns together) and stops with "numerical
 * errors", this keeps iterating correctly; and the reference passes float32 cost matrices,
 * so POT iterates in float32 there while this is float64 throughout.
 *
 * ### sinkhornBatch(problems, options): many problems of one shape
 * `problems` is a list of `{ a?, b?, cost }` whose costs share n x m (several layers' maps
 * of one width, say), with sinkhorn's options for all of them. The results are sinkhorn's,
 * in order. On the CPU the problems are solved one after another, each with every thread;
 * on a GPU (`device`) together, one kernel launch per step for all of them, which is what
 * makes many small problems worth a GPU. Progress counts problems on the CPU.
 * `a`/`b` may be omitted (uniform 1/n, 1/m) and may contain zeros (those rows/columns get
 * zero plan entries). Sums of a and b are not rebalanced (as POT): unequal sums never
 * reach stopThr. The solver keeps its n x m scratch kernel (the largest so far) for the
 * next call, which saves page faults on fresh memory; the plan itself is returned in
 * natively allocated memory (no copy).
 *
 * ### emd(a, b, cost, options): POT 0.8.2's `ot.emd`
 * | option       | default     | meaning |
 * |--------------|-------------|---------|
 * | `solver`     | `'auto'`    | `'assignment'` (Jonker-Volgenant shortest augmenting paths: square problems with uniform a and b, where the plan is a permutation / n), `'network_simplex'` (any marginals), or `'auto'`: the assignment solver exactly when it applies. |
 * | `numItermax` | `10000000`  | Network simplex pivot limit (POT's `numItermax`). POT's default of 100000 is too small for large problems (POT returns a non-optimal plan for 3072 x 3072), so this one is higher; `optimal: false` reports a hit. |
 * | `centerDual` | `true`      | Shift the duals (u + c, v - c) so that a.u = b.v, as POT's `center_dual`. |
 *
 * Progress: the network simplex reports the share of the demand already served over real
 * arcs, the assignment solver the share of its augmenting paths done.
 *
 * a and b must be non-negative with sums equal to within 1.5e-7 (POT's check; relative for
 * masses above 1); b is then scaled to a's sum (`massRescaled` says it happened). The
 * duals satisfy u_i + v_j <= C_ij everywhere, with equality where the plan is positive.
 *
 * ### Where they run (`device` of TaskOptions)
 * costMatrix and sinkhorn run on the GPU with `device: 'cuda'`, and with `'auto'` (the
 * default, see setDefaultDevice) when the addon was built with CUDA and a GPU is usable;
 * `'cuda'` without one is an error that says why. The inputs are copied to the GPU and
 * the n x m result back; `device` in the result says where it ran. On the GPU, Sinkhorn
 * always runs the log-domain iterates (`method` only chooses between the CPU's two paths,
 * which give the same plans) and `absorptions` is 0. emd has no GPU version: `'auto'`
 * solves on the CPU and `'cuda'` is an error.
 */
import type { ActivationStore } from './activations.ts';
import { native, runTask, type TaskOptions } from './native.ts';
import { checkOptionKeys } from './options.ts';

export type { TaskOptions } from './native.ts';

/** A row-major float32 matrix. */
export interface FeatureMatrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** A row-major float64 cost matrix with n rows (model A's neurons) and m columns. */
export interface CostLike {
  data: Float64Array;
  n: number;
  m: number;
}

export type CostMetric = 'euclidean' | 'cosine';
export type CostNormalization = 'log' | 'max' | 'median' | 'mean' | 'none';

export interface CostMatrixOptions extends TaskOptions {
  layout?: 'columns' | 'rows';
  metric?: CostMetric;
  squared?: boolean;
  unitNorm?: boolean;
  normalize?: CostNormalization;
  clip?: { reg?: number; min?: number; max?: number };
  precision?: 'float64' | 'float32';
}

export interface CostMatrix extends CostLike {
  /** The divisor applied by max/median/mean normalisation (1 when none was applied). */
  scale: number;
  /** Percentage of entries at or above reg * max before clipping (0 without clip). */
  percentClipped: number;
  /** Where it was computed. */
  device: 'cpu' | 'cuda';
}

export interface SinkhornOptions extends TaskOptions {
  reg: number;
  numItermax?: number;
  stopThr?: number;
  checkEvery?: number;
  method?: 'sinkhorn' | 'sinkhorn_log';
  epsilonScaling?: { regStart?: number; factor?: number; stageItermax?: number; stageStopThr?: number };
}

export interface SinkhornResult {
  plan: Float64Array;
  n: number;
  m: number;
  /** <plan, cost> (the transport cost, without the entropy term). */
  cost: number;
  /** Iterations run (POT's log['niter'] is this minus one when it converged). */
  iterations: number;
  /** ||column sums of the returned plan - b||_2. */
  marginalError: number;
  /** Whether the stopping test passed before numItermax ran out. */
  converged: boolean;
  /** log of the scalings: plan = diag(exp(logU)) exp(-cost / reg) diag(exp(logV)); -inf for zero-mass rows/columns. */
  logU: Float64Array;
  logV: Float64Array;
  reg: number;
  /** Times the kernel was re-based to stay in floating-point range (0 for moderate reg; always 0 on the GPU). */
  absorptions: number;
  /** Where it ran. */
  device: 'cpu' | 'cuda';
}

export interface EmdOptions extends TaskOptions {
  solver?: 'auto' | 'network_simplex' | 'assignment';
  numItermax?: number;
  centerDual?: boolean;
}

export interface EmdResult {
  plan: Float64Array;
  n: number;
  m: number;
  /** <plan, cost>. */
  cost: number;
  /** Dual potentials: u_i + v_j <= cost_ij, with equality on the plan's support. */
  u: Float64Array;
  v: Float64Array;
  solver: 'network_simplex' | 'assignment';
  /** Pivots (network simplex) or augmenting paths (assignment). */
  iterations: number;
  /** False only when numItermax pivots ran out. */
  optimal: boolean;
  /** b was scaled by sum(a) / sum(b) to balance the masses. */
  massRescaled: boolean;
}

/** A histogram: a Float64Array, an array of numbers, or undefined/empty for uniform. */
export type Marginal = Float64Array | readonly number[] | undefined;

/** An entry of an activation store (neurons as columns), read in place by costMatrix. */
export interface StoredFeatures {
  store: ActivationStore;
  name: string;
}

function checkMatrix(x: FeatureMatrix, name: string): void {
  if (!(x?.data instanceof Float32Array)) throw new TypeError(`costMatrix: ${name}.data must be a Float32Array`);
  if (!Number.isInteger(x.rows) || !Number.isInteger(x.cols) || x.rows < 0 || x.cols < 0)
    throw new TypeError(`costMatrix: ${name}.rows and ${name}.cols must be non-negative integers`);
  if (x.data.length !== x.rows * x.cols)
    throw new RangeError(`costMatrix: ${name}.data has ${x.data.length} elements, expected ${x.rows} x ${x.cols}`);
}

function checkCost(cost: CostLike, fn: string): void {
  if (!(cost?.data instanceof Float64Array)) throw new TypeError(`${fn}: cost.data must be a Float64Array`);
  if (!Number.isInteger(cost.n) || !Number.isInteger(cost.m) || cost.n < 0 || cost.m < 0)
    throw new TypeError(`${fn}: cost.n and cost.m must be non-negative integers`);
  if (cost.data.length !== cost.n * cost.m)
    throw new RangeError(`${fn}: cost.data has ${cost.data.length} elements, expected ${cost.n} x ${cost.m}`);
}

function histogram(h: Marginal, k: number, name: string, fn: string): Float64Array {
  if (h === undefined || h.length === 0) return new Float64Array(k).fill(1 / k);
  if (h.length !== k) throw new RangeError(`${fn}: ${name} has ${h.length} entries, the cost matrix needs ${k}`);
  return h instanceof Float64Array ? h : Float64Array.from(h);
}

/** Drops TaskOptions keys and undefined values: what the native options object receives. */
const TASK_KEYS = ['signal', 'onProgress', 'device'] as const;
const KNOWN_OPTIONS = {
  costMatrix: [...TASK_KEYS, 'layout', 'metric', 'squared', 'unitNorm', 'normalize', 'clip', 'precision'],
  sinkhorn: [...TASK_KEYS, 'reg', 'numItermax', 'stopThr', 'checkEvery', 'method', 'epsilonScaling'],
  emd: [...TASK_KEYS, 'solver', 'numItermax', 'centerDual'],
} as const;

/** The native options: the call's own keys (a misspelt one is an error), without the task's and the undefined ones. */
function solverOptions(options: object, fn: keyof typeof KNOWN_OPTIONS): Record<string, unknown> {
  checkOptionKeys(options, KNOWN_OPTIONS[fn], `${fn} options`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || (TASK_KEYS as readonly string[]).includes(k)) continue;
    // clip: null means no clipping, as leaving it out does.
    if (k === 'clip' && v === null) continue;
    out[k] = v;
  }
  if (fn === 'sinkhorn') checkOptionKeys(out.epsilonScaling, ['regStart', 'factor', 'stageItermax', 'stageStopThr'], 'sinkhorn options: epsilonScaling');
  if (fn === 'costMatrix') checkOptionKeys(out.clip, ['reg', 'min', 'max'], 'costMatrix options: clip');
  return out;
}

/**
 * The ground cost between every neuron of model A (xa) and of model B (xb): an
 * nA x nB float64 matrix. See the table at the top of this file for the options.
 */
export async function costMatrix(xa: FeatureMatrix | StoredFeatures, xb: FeatureMatrix | StoredFeatures, options: CostMatrixOptions = {}): Promise<CostMatrix> {
  const side = (x: FeatureMatrix | StoredFeatures, name: string): [Float32Array | { store: unknown; name: string }, number, number] => {
    if ('store' in x) {
      if (typeof x.name !== 'string') throw new TypeError(`costMatrix: ${name}.name must be the name of a store entry`);
      return [{ store: x.store.native, name: x.name }, 0, 0];
    }
    checkMatrix(x, name);
    return [x.data, x.rows, x.cols];
  };
  const [a, ar, ac] = side(xa, 'xa'), [b, br, bc] = side(xb, 'xb');
  return runTask(options, (o) => native().otCostMatrix(a, ar, ac, b, br, bc, solverOptions(options, 'costMatrix'), o));
}

/**
 * Entropic OT with POT's Sinkhorn iterates, run in the log domain. `a` (n) and `b` (m)
 * default to uniform. See the table at the top of this file for the options.
 */
export async function sinkhorn(a: Marginal, b: Marginal, cost: CostLike, options: SinkhornOptions): Promise<SinkhornResult> {
  checkCost(cost, 'sinkhorn');
  if (typeof options?.reg !== 'number' || !(options.reg > 0) || !Number.isFinite(options.reg))
    throw new RangeError(`sinkhorn: reg must be a positive finite number, got ${options?.reg}`);
  const { n, m } = cost;
  const av = histogram(a, n, 'a', 'sinkhorn'), bv = histogram(b, m, 'b', 'sinkhorn');
  const r = await runTask(options, (o) => native().otSinkhorn(av, bv, cost.data, n, m, solverOptions(options, 'sinkhorn'), o));
  return { n, m, reg: options.reg, ...r };
}

/** A problem of sinkhornBatch: histograms as for sinkhorn (undefined: uniform) and its cost. */
export interface SinkhornProblem {
  a?: Marginal;
  b?: Marginal;
  cost: CostLike;
}

/**
 * Sinkhorn on many problems of one shape with the same options (see the table at the top
 * of this file); the results come back in order, each as sinkhorn() would give it.
 */
export async function sinkhornBatch(problems: SinkhornProblem[], options: SinkhornOptions): Promise<SinkhornResult[]> {
  if (!Array.isArray(problems)) throw new TypeError('sinkhornBatch: problems must be an array');
  if (typeof options?.reg !== 'number' || !(options.reg > 0) || !Number.isFinite(options.reg))
    throw new RangeError(`sinkhornBatch: reg must be a positive finite number, got ${options?.reg}`);
  if (problems.length === 0) return [];
  problems.forEach((p, k) => checkCost(p?.cost, `sinkhornBatch: problems[${k}]`));
  const { n, m } = problems[0].cost;
  const nm = n * m;
  // The arrays go to the native side as they are (no packing here): the CPU solves each
  // in place, the GPU path copies each into its slot on the device.
  const as: Float64Array[] = [], bs: Float64Array[] = [], costs: Float64Array[] = [];
  problems.forEach((p, k) => {
    const what = `sinkhornBatch: problems[${k}]`;
    if (p.cost.n !== n || p.cost.m !== m) throw new RangeError(`${what}: cost is ${p.cost.n} x ${p.cost.m}, problems[0]'s ${n} x ${m}; a batch shares one shape`);
    as.push(histogram(p.a, n, 'a', what));
    bs.push(histogram(p.b, m, 'b', what));
    costs.push(p.cost.data);
  });
  const r = await runTask(options, (o) => native().otSinkhornBatch(as, bs, costs, n, m, solverOptions(options, 'sinkhorn'), o));
  return r.results.map((x, k) => ({
    ...x, n, m, reg: options.reg, device: r.device,
    plan: r.plan.subarray(k * nm, (k + 1) * nm),
    logU: r.logU.subarray(k * n, (k + 1) * n),
    logV: r.logV.subarray(k * m, (k + 1) * m),
  }));
}

/**
 * Exact OT. `a` (n) and `b` (m) default to uniform. See the table at the top of this file
 * for the options.
 */
export async function emd(a: Marginal, b: Marginal, cost: CostLike, options: EmdOptions = {}): Promise<EmdResult> {
  checkCost(cost, 'emd');
  const { n, m } = cost;
  const av = histogram(a, n, 'a', 'emd'), bv = histogram(b, m, 'b', 'emd');
  const r = await runTask(options, (o) => native().otEmd(av, bv, cost.data, n, m, solverOptions(options, 'emd'), o));
  return { n, m, ...r };
}
