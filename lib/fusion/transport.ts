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
  const cost = costOptions(settings);
  // Scaling a one-value neuron to unit norm would leave only its sign (every class-token
  // unit would tie with half the others), so single features are compared as they are.
  if (size.features === 1) cost.unitNorm = false;
  const pca = pcaComponents(settings, a, b);
  const result = await runTask(task, (o) =>
    native().fusionTransportMap(a, b, {
      solver,
      cost,
      ...(solver === 'sinkhorn' ? { sinkhorn: { reg: settings.sinkhorn_reg } } : {}),
      ...(pca ? { pca } : {}),
    }, o)).catch((err: Error) => {
    if (err.message?.startsWith(PCA_WIDTH_ERROR)) throw new InputError('fusion.pca', `${piece}: ${err.message.slice(PCA_WIDTH_ERROR.length)}`);
    throw err;
  });
  if (result.n !== size.n || result.m !== size.m)
    throw new RangeError(`${piece}: expected a ${size.n} x ${size.m} map, the neurons gave ${result.n} x ${result.m}`);
  return {
    map: { data: result.map, n: result.n, m: result.m },
    report: { piece, n: result.n, m: result.m, ...result.diagnostics, seconds: (performance.now() - started) / 1000 },
  };
}
