/**
 * Where the residual policy happens: at every residual connection the map carried by the
 * residual stream (T_res) and the map out of the sublayer (T_sub) become one map.
 *
 *   no_resid           T_sub
 *   only_resid         T_res
 *   mean               (T_res + T_sub) / 2
 *   weighted_scalar    a T_res + b T_sub, a : b = mean |residual activity| : mean |sublayer activity|
 *   weighted_matrix    the same per anchor neuron: T_res diag(a) + T_sub diag(b)
 *   resid_as_identity  the identity
 *
 * Activity is measured on the anchor's captured activations, as in the reference.
 */
import { native, runTask, type NativeMatrixPart, type TaskOptions } from '../native.ts';
import { identityMap, type TransportMap } from './maps.ts';

export type ResidualPolicy = 'no_resid' | 'only_resid' | 'mean' | 'weighted_scalar' | 'weighted_matrix' | 'resid_as_identity';

/**
 * The anchor's activity on both branches of a connection, as matrices with one column per
 * neuron; a branch given as several matrices is their sum (the residual stream after
 * attention is the block input plus the attention output).
 */
export interface ResidualActivity {
  residual: NativeMatrixPart[];
  sublayer: NativeMatrixPart[];
}

function mean(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += v;
  return values.length ? s / values.length : 0;
}

/** Per-neuron mean |activity| of one branch, computed where the activations live (off the event loop). */
function branchActivity(parts: NativeMatrixPart[], task: TaskOptions): Promise<Float64Array> {
  return runTask(task, (o) => native().fusionColumnMeanAbs(parts, o));
}

/**
 * Combines the two maps meeting at a residual connection. A missing T_res (nothing fused
 * before) yields T_sub.
 */
export async function applyResidualPolicy(
  policy: ResidualPolicy, tRes: TransportMap | null, tSub: TransportMap, activity: () => ResidualActivity,
  task: TaskOptions = {},
): Promise<TransportMap> {
  if (!tRes) return tSub;
  if (tRes.n !== tSub.n || tRes.m !== tSub.m)
    throw new RangeError(`residual policy: maps of ${tRes.n}x${tRes.m} and ${tSub.n}x${tSub.m} cannot be combined`);
  const { n, m } = tSub;
  const combine = (wRes: Float32Array, wSub: Float32Array): TransportMap => ({
    data: native().fusionCombineMaps(tRes.data, tSub.data, wRes, wSub, n, m), n, m,
  });
  switch (policy) {
    case 'no_resid':
      return tSub;
    case 'only_resid':
      return tRes;
    case 'resid_as_identity':
      return identityMap(n, m);
    case 'mean':
      return combine(new Float32Array(m).fill(0.5), new Float32Array(m).fill(0.5));
    case 'weighted_scalar': {
      const act = activity();
      const r = mean(await branchActivity(act.residual, task)), s = mean(await branchActivity(act.sublayer, task));
      const total = r + s;
      return combine(new Float32Array(m).fill(total > 0 ? r / total : 0.5), new Float32Array(m).fill(total > 0 ? s / total : 0.5));
    }
    case 'weighted_matrix': {
      const act = activity();
      const r = await branchActivity(act.residual, task), s = await branchActivity(act.sublayer, task);
      if (r.length !== m || s.length !== m)
        throw new RangeError(`weighted_matrix: activity has ${r.length} and ${s.length} neurons, the anchor ${m}`);
      const wRes = new Float32Array(m), wSub = new Float32Array(m);
      for (let j = 0; j < m; j++) {
        const total = r[j] + s[j];
        wRes[j] = total > 0 ? r[j] / total : 0.5;
        wSub[j] = total > 0 ? s[j] / total : 0.5;
      }
      return combine(wRes, wSub);
    }
  }
}
