/**
 * The accuracy landscape on the plane through three models (the anchor, the OT-fused and
 * the vanilla-fused one), as in the paper's figure: the anchor at the origin, the OT
 * model on the first axis, the vanilla model in the plane (Gram-Schmidt), and every grid
 * point evaluated as a model of its own. Parameter arithmetic runs natively.
 */
import { dot, weightedSum } from '../compute.ts';
import type { Tensor } from '../io/tensor.ts';
import type { TaskOptions } from '../native.ts';
import type { LandscapeGrid, LandscapeMarker } from './landscape-svg.ts';
import { throwIfAborted } from '../errors.ts';

function flatten(tensors: Map<string, Tensor>, names: string[]): Float32Array {
  const total = names.reduce((s, n) => s + tensors.get(n)!.data.length, 0);
  const out = new Float32Array(total);
  let at = 0;
  for (const n of names) {
    out.set(tensors.get(n)!.data as Float32Array, at);
    at += tensors.get(n)!.data.length;
  }
  return out;
}

function unflatten(flat: Float32Array, like: Map<string, Tensor>, names: string[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  let at = 0;
  for (const [name, t] of like) {
    if (!names.includes(name)) {
      out.set(name, t);
      continue;
    }
    out.set(name, { dtype: 'F32', shape: t.shape, data: flat.slice(at, at + t.data.length) });
    at += t.data.length;
  }
  return out;
}

export interface LandscapeOptions extends TaskOptions {
  /** Grid points per axis. */
  points: number;
  /** Extra room around the three models, as a fraction of the plane's extent. */
  margin: number;
  /** Called after each grid point. */
  onPoint?: (done: number, total: number) => void;
}

export interface Landscape {
  grid: LandscapeGrid;
  markers: LandscapeMarker[];
}

/**
 * Evaluates `score` (e.g. test accuracy) over the plane through `anchor`, `ot` and
 * `vanilla` (same shapes). Coordinates are Euclidean distances in parameter space.
 */
export async function accuracyLandscape(
  anchor: Map<string, Tensor>, ot: Map<string, Tensor>, vanilla: Map<string, Tensor>,
  score: (tensors: Map<string, Tensor>) => Promise<number>, options: LandscapeOptions,
): Promise<Landscape> {
  const names = [...anchor].filter(([, t]) => t.data instanceof Float32Array).map(([n]) => n);
  const b = flatten(anchor, names), o = flatten(ot, names), v = flatten(vanilla, names);
  const u = await weightedSum([o, b], [1, -1], options), w = await weightedSum([v, b], [1, -1], options);
  const uu = await dot(u, u, options), uw = await dot(u, w, options), ww = await dot(w, w, options);
  const lu = Math.sqrt(uu);
  if (!(lu > 0)) throw new RangeError('accuracyLandscape: the OT model coincides with the anchor; there is no plane');
  // e1 = u / |u|; e2 = (w - (w.e1) e1) / d. The vanilla model sits at (w.e1, d).
  const wx = uw / lu;
  const d = Math.sqrt(Math.max(0, ww - wx * wx));
  if (!(d > 1e-6 * Math.max(lu, Math.sqrt(ww)))) throw new RangeError('accuracyLandscape: the three models are collinear; there is no plane');
  const xs0 = Math.min(0, lu, wx), xs1 = Math.max(0, lu, wx), ys0 = 0, ys1 = d;
  const mx = options.margin * (xs1 - xs0), my = options.margin * (ys1 - ys0);
  const axis = (lo: number, hi: number) => Array.from({ length: options.points }, (_, i) => lo + ((hi - lo) * i) / (options.points - 1));
  const xs = axis(xs0 - mx, xs1 + mx), ys = axis(ys0 - my, ys1 + my);
  const values: number[][] = [];
  let done = 0;
  for (const y of ys) {
    const row: number[] = [];
    for (const x of xs) {
      throwIfAborted(options.signal);
      // x e1 + y e2 = alpha u + beta w with alpha = x/|u| - y wx/(|u| d), beta = y/d.
      const alpha = x / lu - (y * wx) / (lu * d), beta = y / d;
      const point = await weightedSum([b, o, v], [1 - alpha - beta, alpha, beta], options);
      row.push(await score(unflatten(point, anchor, names)));
      options.onPoint?.(++done, xs.length * ys.length);
    }
    values.push(row);
  }
  return {
    grid: { xs, ys, values },
    markers: [{ x: 0, y: 0, label: 'anchor' }, { x: lu, y: 0, label: 'OT fusion' }, { x: wx, y: d, label: 'vanilla fusion' }],
  };
}
