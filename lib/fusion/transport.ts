/**
 * One transport map: the neurons of the model being aligned and of the anchor (from
 * captured activations or from weights), the ground metric and the solver the config
 * asks for, and the diagnostics that go into the report.
 */
import type { ExperimentConfig } from '../config/experiment.ts';
import { InputError } from '../errors.ts';
import { native, runTask, type NativeMapDiagnostics, type NativeNeuronSide, type TaskOptions } from '../native.ts';
import type { TransportMap } from './maps.ts';

export type FusionSettings = ExperimentConfig['fusion'];

/** What one map cost and how close it came to a permutation; one row of the report. */
export interface MapReport extends NativeMapDiagnostics {
  /** Which layer piece the map aligns, e.g. "layer 3 mlp in". */
  piece: string;
  n: number;
  m: number;
  seconds: number;
}

/**
 * The solver for a layer: `sinkhorn_for_widening` uses Sinkhorn only where the layer has
 * more neurons, on either side, than the map coming into it (the reference's rule), and
 * EMD elsewhere and where no map comes in.
 */
export function solverFor(settings: FusionSettings, n: number, m: number, incoming: TransportMap | null): 'emd' | 'sinkhorn' {
  switch (settings.ot_solver) {
    case 'emd':
      return 'emd';
    case 'sinkhorn':
      return 'sinkhorn';
    case 'sinkhorn_for_widening':
      return incoming && (n > incoming.n || m > incoming.m) ? 'sinkhorn' : 'emd';
  }
}

export function costOptions(settings: FusionSettings): Record<string, unknown> {
  const g = settings.gnd_metric;
  return {
    metric: g.type,
    squared: g.squared,
    normalize: g.norm,
    // Weights mode compares unit-norm neuron vectors (the reference's wts.norm).
    unitNorm: settings.type === 'wts' && settings.wts.norm,
    ...(g.clip ? { clip: { reg: g.reg, min: g.clip_min, max: g.clip_max } } : {}),
    precision: g.precision,
  };
}

/**
 * fusion.pca: as in the reference, activations mode only (ignored in weights mode): a map
 * between captured activations compares the neurons in the anchor's top pca_k principal
 * directions (native fusion/pca.h). Maps from stored values (class token, position
 * embeddings) keep their values as they are. 0: off.
 */
function pcaComponents(settings: FusionSettings, a: NativeNeuronSide, b: NativeNeuronSide): number {
  if (!settings.pca || settings.type !== 'acts') return 0;
  if (![...a.parts, ...b.parts].every((p) => 'store' in p)) return 0;
  return settings.pca_k;
}

// The native refusal of PCA between layers of unequal widths compared whole (fusion/pca.h).
const PCA_WIDTH_ERROR = 'pca: unequal widths: ';

/** The native map options for a layer solved with `solver` (pca: pcaComponents). */
function mapOptions(settings: FusionSettings, solver: 'emd' | 'sinkhorn', features: number | undefined, pca: number) {
  const cost = costOptions(settings);
  // Scaling a one-value neuron to unit norm would leave only its sign (every class-token
  // unit would tie with half the others), so single features are compared as they are.
  if (features === 1) cost.unitNorm = false;
  return {
    solver,
    cost,
    ...(solver === 'sinkhorn' ? { sinkhorn: { reg: settings.sinkhorn_reg } } : {}),
    ...(pca ? { pca } : {}),
  };
}

function pcaError(piece: string) {
  return (err: Error): never => {
    if (err.message?.startsWith(PCA_WIDTH_ERROR)) throw new InputError('fusion.pca', `${piece}: ${err.message.slice(PCA_WIDTH_ERROR.length)}`);
    throw err;
  };
}

/** A native result as a map and its report row, checked against the expected size. */
function mapAndReport(
  piece: string, result: { map: Float32Array; n: number; m: number; diagnostics: NativeMapDiagnostics }, size: { n: number; m: number }, seconds: number,
): { map: TransportMap; report: MapReport } {
  if (result.n !== size.n || result.m !== size.m)
    throw new RangeError(`${piece}: expected a ${size.n} x ${size.m} map, the neurons gave ${result.n} x ${result.m}`);
  return {
    map: { data: result.map, n: result.n, m: result.m },
    report: { piece, n: result.n, m: result.m, ...result.diagnostics, seconds },
  };
}

/**
 * The map from side a's neurons (n of them) to side b's (m), with the solver chosen for
 * the layer (see solverFor). The native side computes the cost, solves and scales.
 */
export async function computeMap(
  piece: string, a: NativeNeuronSide, b: NativeNeuronSide, size: { n: number; m: number; features?: number }, settings: FusionSettings,
  incoming: TransportMap | null, task: TaskOptions,
): Promise<{ map: TransportMap; report: MapReport }> {
  const started = performance.now();
  const solver = solverFor(settings, size.n, size.m, incoming);
  const options = mapOptions(settings, solver, size.features, pcaComponents(settings, a, b));
  const result = await runTask(task, (o) => native().fusionTransportMap(a, b, options, o)).catch(pcaError(piece));
  return mapAndReport(piece, result, size, (performance.now() - started) / 1000);
}

/** One of many independent Sinkhorn maps solved together (computeSinkhornMaps). */
export interface MapProblem {
  piece: string;
  a: NativeNeuronSide;
  b: NativeNeuronSide;
  size: { n: number; m: number };
}

/**
 * Sinkhorn maps of independent problems in one native call: on the GPU the problems of
 * one shape are solved together (fusion::transport_maps). Each report's seconds are the
 * call's time shared out by problem size.
 */
export async function computeSinkhornMaps(problems: MapProblem[], settings: FusionSettings, task: TaskOptions): Promise<Array<{ map: TransportMap; report: MapReport }>> {
  if (problems.length === 0) return [];
  const started = performance.now();
  const options = mapOptions(settings, 'sinkhorn', undefined, 0);
  const results = await runTask(task, (o) => native().fusionTransportMaps(problems.map(({ a, b }) => ({ a, b })), options, o));
  const seconds = (performance.now() - started) / 1000;
  const work = problems.reduce((s, p) => s + p.size.n * p.size.m, 0);
  return problems.map((p, k) => mapAndReport(p.piece, results[k], p.size, (seconds * p.size.n * p.size.m) / work));
}
