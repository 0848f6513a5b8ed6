/**
 * Moving weights into the anchor's basis with transport maps (GEMMs on the native
 * backend): inputs W · T_in, outputs T_outᵀ · W, vectors Tᵀ · b or g · T.
 */
import { matmul } from '../compute.ts';
import type { TaskOptions } from '../native.ts';
import type { TransportMap } from './maps.ts';

/** W (rows x n) · T (n x m): a weight's inputs moved into the anchor's input basis. */
export function alignInputs(w: Float32Array, rows: number, t: TransportMap, task: TaskOptions): Promise<Float32Array> {
  checkLength(w, rows * t.n, 'alignInputs');
  return matmul(w, t.data, rows, t.m, t.n, task);
}

/** Tᵀ (m x n) · W (n x cols): a weight's outputs (rows) moved into the anchor's neuron order. */
export function alignOutputs(w: Float32Array, cols: number, t: TransportMap, task: TaskOptions): Promise<Float32Array> {
  checkLength(w, t.n * cols, 'alignOutputs');
  return matmul(t.data, w, t.m, cols, t.n, { ...task, transA: true });
}

function checkLength(x: Float32Array, want: number, fn: string): void {
  if (x.length !== want) throw new RangeError(`${fn}: expected ${want} values, got ${x.length} (shapes do not fit the map)`);
}
