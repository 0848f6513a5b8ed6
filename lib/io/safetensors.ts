/**
 * safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and [begin, end) byte range in the data section, then the data.
 *
 * Reading checks everything the header claims against the real file before allocating
 * anything: a header that lies about sizes gets an InputError, never a huge allocation.
 * As the format requires, tensor data must tile the data section exactly (no gaps, no
 * overlaps, nothing after the last tensor).
 */
import { InputError, throwIfAborted } from '../errors.ts';
import { type ByteSource, withSource } from './byte-source.ts';
import { bytesOf, bytesPerElement, decode, decodeOwned, dtypeOfArray, isStoredDType, memoryDType, STORED_DTYPES, type StoredDType } from './dtype.ts';
import { findDuplicateKey } from './json-duplicates.ts';
import { writeFileAtomically } from './atomic-folder.ts';
import { elementCount, formatShape, type Tensor } from './tensor.ts';
import { jsonFault, oneLine, quoted } from './messages.ts';

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export interface TensorFileContents {
  /** Tensors in file order, in their in-memory dtype (see dtype.ts). */
  tensors: Map<string, Tensor>;
  /** Each tensor's dtype as the file stores it. */
  storedDtypes: Map<string, StoredDType>;
}

export interface SafetensorsContents extends TensorFileContents {
  /** The header's `__metadata__` (string to string), or null when absent. */
  metadata: Record<string, string> | null;
}

/** Where one tensor's bytes are, as validated from the header. */
export interface SafetensorsEntry {
  name: string;
  dtype: StoredDType;
  shape: number[];
  /** Absolute byte offsets in the file. */
  start: number;
  end: number;
}

export interface ReadOptions {
  /** How errors name a buffer input (a path names itself). */
  name?: string;
  /** Aborting rejects the read with an AbortError before the next tensor is read. */
  signal?: AbortSignal;
}

/** Reads a safetensors file (a path) or buffer. */
export async function readSafetensors(input: string | Uint8Array, options: ReadOptions = {}): Promise<SafetensorsContents> {
  return withSource(input, options.name, async (source) => {
    const { entries, metadata } = await readSafetensorsHeader(source);
    const tensors = new Map<string, Tensor>();
    const storedDtypes = new Map<string, StoredDType>();
    for (const entry of entries) {
      throwIfAborted(options.signal);
      const count = elementCount(entry.shape);
      const bytes = await source.read(entry.start, entry.end - entry.start);
      const data = source.ownedReads ? decodeOwned(entry.dtype, bytes, count) : decode(entry.dtype, bytes, count);
      tensors.set(entry.name, { dtype: memoryDType(entry.dtype), shape: entry.shape, data });
      storedDtypes.set(entry.name, entry.dtype);
    }
    return { tensors, storedDtypes, metadata };
  });
}

/** Parses and validates the header; entries come back in file order. */
export async function readSafetensorsHeader(source: ByteSource): Promise<{ entries: SafetensorsEntry[]; metadata: Record<string, string> | null }> {
  const fail = (fault: string): never => { throw new InputError(source.name, fault); };
  if (source.size < 8) fail(`file is too short to be safetensors (${source.size} bytes; the header length alone takes 8)`);
  const prefix = await source.read(0, 8);
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(source.size - 8)) {
    fail(`header length ${headerLength} runs past the end of the file (${source.size} bytes)`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} is larger than the ${MAX_HEADER_BYTES} bytes safetensors allows`);
  const headerBytes = await source.read(8, Number(headerLength));
  const dataStart = 8 + headerBytes.length;
  const dataSize = source.size - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not JSON (${jsonFault(err, text)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    fail(duplicate.path.length === 0 ? `header names tensor ${quoted(duplicate.key)} twice` : `header repeats the key ${quoted(duplicate.key)} in ${quoted(duplicate.path.join('.'))}`);
  }

  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value, fail);
    else entries.push(parseEntry(name, value, dataStart, dataSize, fail));
  }
  checkTiling(entries, dataStart, dataSize, fail);
  return { entries, metadata };
}

function parseMetadata(value: unknown, fail: (fault: string) => never): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ must be an object of strings');
  for (const [key, item] of Object.entries(value as object)) {
    if (typeof item !== 'string') fail(`__metadata__ value of ${quoted(key)} must be a string`);
  }
  return { ...(value as Record<string, string>) };
}

function parseEntry(name: string, value: unknown, dataStart: number, dataSize: number, fail: (fault: string) => never): SafetensorsEntry {
  const at = `tensor ${quoted(name)}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${at}: header entry must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (!isStoredDType(dtype)) {
    fail(`${at}: unsupported dtype ${oneLine(JSON.stringify(dtype) ?? 'undefined')} (supported: ${STORED_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${at}: shape must be a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail(`${at}: data_offsets must be [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) fail(`${at}: data ends at byte ${end} of the data section, past its end (${dataSize} bytes)`);
  const stored = dtype as StoredDType;
  const needed = byteCount(shape as number[], bytesPerElement(stored), Number.MAX_SAFE_INTEGER);
  if (needed !== end - begin) {
    fail(`${at}: shape [${(shape as number[]).join(', ')}] of ${stored} needs ${needed > Number.MAX_SAFE_INTEGER ? 'more bytes than any file holds' : `${needed} bytes`} but data_offsets span ${end - begin}`);
  }
  return { name, dtype: stored, shape: [...(shape as number[])], start: dataStart + begin, end: dataStart + end };
}

function checkTiling(entries: SafetensorsEntry[], dataStart: number, dataSize: number, fail: (fault: string) => never): void {
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let expected = dataStart;
  let previous = '';
  for (const entry of sorted) {
    if (entry.start < expected) fail(`tensor ${quoted(entry.name)} overlaps tensor ${quoted(previous)} in the data section`);
    if (entry.start > expected) fail(`gap of ${entry.start - expected} bytes before tensor ${quoted(entry.name)} in the data section`);
    expected = entry.end;
    previous = entry.name;
  }
  const trailing = dataStart + dataSize - expected;
  if (trailing > 0) fail(`${trailing} bytes after the last tensor belong to no tensor`);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Bytes needed by a shape; any value above `limit` means "too many" (no overflow). */
function byteCount(shape: number[], itemSize: number, limit: number): number {
  if (shape.includes(0)) return 0;
  let bytes = itemSize;
  for (const size of shape) {
    bytes *= size;
    if (bytes > limit) return limit + 1;
  }
  return bytes;
}

// ---- writing ---------------------------------------------------------------------

export interface WriteOptions {
  /** Written as `__metadata__`; defaults to {"format": "pt"}, which HF transformers requires. */
  metadata?: Record<string, string>;
}

/**
 * The bytes of a safetensors file as a list of chunks (header, then each tensor's data
 * as a view of its array). Tensors are laid out by element size, largest first, so every
 * tensor's data is aligned to its element size once the header is padded to 8 bytes.
 */
export function safetensorsChunks(tensors: Iterable<[string, Tensor]>, options: WriteOptions = {}): Uint8Array[] {
  const list = [...tensors];
  for (const [name, tensor] of list) checkWritable(name, tensor);
  const ordered = list
    .map((item, index) => ({ item, index }))
    .sort((a, b) => bytesPerElement(b.item[1].dtype) - bytesPerElement(a.item[1].dtype) || a.index - b.index)
    .map(({ item }) => item);

  const header: Record<string, unknown> = { [METADATA_KEY]: options.metadata ?? { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of ordered) {
    const bytes = bytesOf(tensor.data);
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  return [prefix, headerBytes, ...chunks];
}

/** The whole file as one buffer (for small files and tests). */
export function encodeSafetensors(tensors: Iterable<[string, Tensor]>, options: WriteOptions = {}): Uint8Array {
  const chunks = safetensorsChunks(tensors, options);
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) { out.set(chunk, at); at += chunk.length; }
  return out;
}

/** Writes a safetensors file; the file appears complete or not at all. */
export async function writeSafetensors(path: string, tensors: Map<string, Tensor> | Iterable<[string, Tensor]>, options: WriteOptions = {}): Promise<void> {
  await writeFileAtomically(path, safetensorsChunks(tensors, options));
}

// Writing bad tensors is a bug in the caller, not bad user input: plain errors.
function checkWritable(name: string, tensor: Tensor): void {
  if (name === METADATA_KEY || name === '') throw new RangeError(`writeSafetensors: ${quoted(name)} cannot be a tensor name`);
  if (!tensor.shape.every((size) => isCount(size))) throw new RangeError(`writeSafetensors: tensor ${quoted(name)} has an invalid shape [${tensor.shape.join(', ')}]`);
  if (tensor.data.length !== elementCount(tensor.shape)) {
    throw new RangeError(`writeSafetensors: tensor ${quoted(name)} has ${tensor.data.length} values for shape ${formatShape(tensor.shape)}`);
  }
  const held = dtypeOfArray(tensor.data);
  if (held !== tensor.dtype && !(held === 'U8' && tensor.dtype === 'BOOL')) {
    throw new TypeError(`writeSafetensors: tensor ${quoted(name)} claims ${tensor.dtype} but holds ${tensor.data.constructor.name}`);
  }
}
