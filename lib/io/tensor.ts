/** The tensor every part of the project passes around: a dtype, a shape and row-major data. */
import { allocate, dtypeOfArray, type DType, type TensorData } from './dtype.ts';

export interface Tensor {
  /** In-memory element type; F16/BF16 files arrive here as F32 (see dtype.ts). */
  dtype: DType;
  /** Sizes per dimension, outermost first; [] is a scalar. */
  shape: number[];
  /** The elements in row-major (C) order; length is the product of the shape. */
  data: TensorData;
}

/** Number of elements of a shape ([] is a scalar: one element). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const size of shape) n *= size;
  return n;
}

/** A float32 tensor; `data` defaults to zeros. */
export function floatTensor(shape: number[], data?: Float32Array | number[]): Tensor {
  const count = elementCount(shape);
  const values = data instanceof Float32Array ? data : data ? Float32Array.from(data) : new Float32Array(count);
  if (values.length !== count) {
    throw new RangeError(`floatTensor: shape [${shape.join(', ')}] needs ${count} values, got ${values.length}`);
  }
  return { dtype: 'F32', shape: [...shape], data: values };
}

/** A tensor holding `data` as it is (its dtype follows the array type). */
export function tensorOf(shape: number[], data: TensorData, dtype: DType = dtypeOfArray(data)): Tensor {
  if (data.length !== elementCount(shape)) {
    throw new RangeError(`tensorOf: shape [${shape.join(', ')}] needs ${elementCount(shape)} values, got ${data.length}`);
  }
  return { dtype, shape: [...shape], data };
}

/** A zero tensor of the given dtype and shape. */
export function zerosTensor(dtype: DType, shape: number[]): Tensor {
  return { dtype, shape: [...shape], data: allocate(dtype, elementCount(shape)) };
}

/** True for objects that look like a Tensor (used to tell leaves from branches in nested dictionaries). */
export function isTensor(value: unknown): value is Tensor {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Partial<Tensor>;
  return typeof t.dtype === 'string' && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

export function formatShape(shape: readonly number[]): string {
  return shape.length === 0 ? 'scalar' : shape.join(' x ');
}
