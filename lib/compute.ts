/**
 * Basic native compute exposed to TypeScript: matrix products, GELU and weighted sums of
 * tensors (the aggregation step of every fusion). All are async and run off the event
 * loop; see TaskOptions for device, cancellation and progress.
 */
import { InputError } from './errors.ts';
import { MAX_THREADS } from './options.ts';
import { native, runTask, type Device, type NativeInfo, type TaskOptions } from './native.ts';

export type { TaskOptions } from './native.ts';

/** What the native side runs on: threads, BLAS, and whether CUDA is compiled in and usable. */
export function backendInfo(): NativeInfo {
  return native().info();
}

/**
 * Refuses `cuda` up front when no GPU is usable (an InputError naming `source`, with the
 * reason), so that a run fails before its first minute of work rather than at its first
 * native call. `auto` and `cpu` always pass.
 */
export function checkDevice(device: Device | undefined, source: string): void {
  if (device !== 'cuda') return;
  const info = native().info();
  if (!info.cudaAvailable) throw new InputError(source, `is 'cuda', but CUDA is not available: ${info.cudaUnavailableReason ?? 'unknown reason'}`);
}

/** Sets the size of the native thread pool (and OpenBLAS's); 0 restores the default. Returns the new size. */
export function setThreads(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_THREADS) throw new RangeError(`setThreads: expected an integer from 0 (the default) to ${MAX_THREADS}, got ${n}`);
  return native().setThreads(n);
}

/**
 * Runs `work` with the thread pool at `threads` (0: as it is) and puts the previous size
 * back after, so that a run's runtime.threads does not outlive the run in a script that
 * goes on to other work.
 */
export async function withThreads<T>(threads: number, work: () => Promise<T>): Promise<T> {
  if (threads <= 0) return work();
  const previous = native().info().threads;
  setThreads(threads);
  try {
    return await work();
  } finally {
    setThreads(previous);
  }
}

export interface MatmulOptions extends TaskOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * C = op(A) · op(B) for row-major matrices: op(A) is m x k, op(B) is k x n. A and B are
 * stored as given by the transpose flags (A is k x m when transA). Returns a new m x n array.
 */
export async function matmul(
  a: Float32Array, b: Float32Array, m: number, n: number, k: number, options: MatmulOptions = {},
): Promise<Float32Array> {
  const c = new Float32Array(m * n);
  await runTask(options, (o) =>
    native().gemm(a, b, c, m, n, k, options.transA ?? false, options.transB ?? false, 1, 0, o),
  );
  return c;
}

/** GELU (exact erf form, as Hugging Face's "gelu") of every element; returns a new array. */
export async function gelu(x: Float32Array, options: TaskOptions = {}): Promise<Float32Array> {
  const out = new Float32Array(x.length);
  await runTask(options, (o) => native().gelu(x, out, o));
  return out;
}

/** Gradient of GELU: dout · gelu'(x), elementwise; returns a new array. */
export async function geluBackward(x: Float32Array, dout: Float32Array, options: TaskOptions = {}): Promise<Float32Array> {
  const dinp = new Float32Array(x.length);
  await runTask(options, (o) => native().geluBackward(x, dout, dinp, o));
  return dinp;
}

/** sum_i x_i y_i, accumulated in float64. */
export async function dot(x: Float32Array, y: Float32Array, options: TaskOptions = {}): Promise<number> {
  return runTask(options, (o) => native().dot(x, y, o));
}

/** sum_i weights[i] · inputs[i] over same-length arrays; returns a new array. */
export async function weightedSum(inputs: Float32Array[], weights: number[], options: TaskOptions = {}): Promise<Float32Array> {
  if (inputs.length === 0) throw new RangeError('weightedSum: need at least one input');
  const out = new Float32Array(inputs[0].length);
  await runTask(options, (o) => native().weightedSum(inputs, weights, out, o));
  return out;
}
