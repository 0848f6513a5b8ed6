/**
 * Element types of tensors as files store them and as we keep them in memory.
 *
 * Names follow safetensors ("F32", "BF16", "I64", ...). Half-precision floats (F16, BF16)
 * are widened to float32 on read, so in memory every float tensor is F32 or F64 and the
 * fusion code never meets a 16-bit float. Decoding always copies into a fresh typed array:
 * the copy is what makes data at any byte offset of a file (not 4- or 8-byte aligned)
 * load correctly, and it keeps tensors independent of the file buffer they came from.
 */
import { endianness } from 'node:os';

/** Element types a checkpoint may store. */
export type StoredDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
/** Element types a tensor has in memory: the stored ones, with F16 and BF16 widened to F32. */
export type DType = Exclude<StoredDType, 'F16' | 'BF16'>;

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export const STORED_DTYPES: readonly StoredDType[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

const BYTES: Record<StoredDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

// Typed arrays use the host's byte order and every format we read is little-endian.
// Every platform Node ships for is little-endian; refuse loudly rather than misread.
if (endianness() !== 'LE') {
  throw new Error('transformer-fusion: model I/O needs a little-endian host');
}

export function isStoredDType(name: unknown): name is StoredDType {
  return typeof name === 'string' && Object.hasOwn(BYTES, name);
}

export function bytesPerElement(dtype: StoredDType): number {
  return BYTES[dtype];
}

export function memoryDType(stored: StoredDType): DType {
  return stored === 'F16' || stored === 'BF16' ? 'F32' : stored;
}

export function isFloatDType(dtype: StoredDType): boolean {
  return dtype === 'F32' || dtype === 'F64' || dtype === 'F16' || dtype === 'BF16';
}

/** An array of an in-memory dtype over `count` elements of `buffer` from its start. */
function arrayOver(dtype: DType, buffer: ArrayBuffer, count: number): TensorData {
  switch (dtype) {
    case 'F64': return new Float64Array(buffer, 0, count);
    case 'F32': return new Float32Array(buffer, 0, count);
    case 'I64': return new BigInt64Array(buffer, 0, count);
    case 'I32': return new Int32Array(buffer, 0, count);
    case 'I16': return new Int16Array(buffer, 0, count);
    case 'I8': return new Int8Array(buffer, 0, count);
    case 'U8': case 'BOOL': return new Uint8Array(buffer, 0, count);
  }
}

/** A zero-filled array for `count` elements of an in-memory dtype. */
export function allocate(dtype: DType, count: number): TensorData {
  return arrayOver(dtype, new ArrayBuffer(count * BYTES[dtype]), count);
}

/** The in-memory dtype that a typed array holds, for arrays allocate() can return. */
export function dtypeOfArray(data: TensorData): DType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  return 'U8';
}

/**
 * Decodes `count` little-endian elements of `stored` from `bytes` (exactly count * size
 * bytes, at any alignment) into a new array of the in-memory dtype.
 */
export function decode(stored: StoredDType, bytes: Uint8Array, count: number): TensorData {
  if (bytes.length !== count * BYTES[stored]) {
    throw new RangeError(`decode: ${bytes.length} bytes for ${count} elements of ${stored}`);
  }
  if (stored === 'F16') return halfToFloat(bytes, count);
  if (stored === 'BF16') return bfloat16ToFloat(bytes, count);
  const out = allocate(stored, count);
  new Uint8Array(out.buffer).set(bytes);
  if (stored === 'BOOL') normaliseBools(out as Uint8Array);
  return out;
}

/**
 * decode() for bytes the caller gives up (a file read of exactly one tensor): where the
 * stored dtype is the in-memory one, the array is a view over those bytes instead of a
 * copy, so loading a checkpoint neither copies it nor leaves its read buffers behind as
 * garbage (for a ViT-B pair, 655 MiB that stayed resident until V8 next collected).
 */
export function decodeOwned(stored: StoredDType, bytes: Uint8Array, count: number): TensorData {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  if (!whole || bytes.length !== count * BYTES[stored] || stored === 'F16' || stored === 'BF16' || stored === 'BOOL') {
    return decode(stored, bytes, count);
  }
  return arrayOver(stored, bytes.buffer as ArrayBuffer, count);
}

/** The little-endian bytes of an in-memory array (a view, not a copy). */
export function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// Any non-zero byte is true, as in torch; keep 0/1 so tensors compare equal after a round trip.
function normaliseBools(values: Uint8Array): void {
  for (let i = 0; i < values.length; i++) if (values[i] > 1) values[i] = 1;
}

function bfloat16ToFloat(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) bits[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
  return out;
}

let halfTable: Float32Array | undefined;

function halfToFloat(bytes: Uint8Array, count: number): Float32Array {
  // A 65,536-entry table (256 KiB) makes the conversion one lookup per element.
  const table = (halfTable ??= buildHalfTable());
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) table[h] = mantissa ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return table;
}
