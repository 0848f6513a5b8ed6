/**
 * PyTorch checkpoints (pytorch_model.bin) as torch.save writes them since torch 1.6: a
 * zip archive holding `<name>/data.pkl` (the pickled state dict, whose tensors refer to
 * storages by persistent id) and `<name>/data/<key>` (each storage's raw bytes). We run
 * the pickle with the restricted interpreter, then copy each tensor's view out of its
 * storage: offsets and strides are honoured, so non-contiguous and shared-storage tensors
 * come out as independent contiguous tensors.
 */
import { InputError, throwIfAborted } from '../errors.ts';
import { type ByteSource, withSource } from './byte-source.ts';
import { allocate, bytesPerElement, decode, memoryDType, type StoredDType, type TensorData } from './dtype.ts';
import { PyDict, PyList, PyTuple, unpickle } from './pickle.ts';
import type { ReadOptions, TensorFileContents } from './safetensors.ts';
import { resolveTorchGlobal, StorageRef, TensorRef, torchStorageRef } from './torch-globals.ts';
import { elementCount, type Tensor } from './tensor.ts';
import { ZipArchive, type ZipEntry } from './zip.ts';
import { oneLine, quoted } from './messages.ts';

const LEGACY_FORMAT = 'unsupported legacy format, re-save with torch >= 1.6 (the default zip format of torch.save)';

/** Reads the tensors of a pytorch_model.bin (a path) or buffer. */
export async function readTorchBin(input: string | Uint8Array, options: ReadOptions = {}): Promise<TensorFileContents> {
  return withSource(input, options.name, async (source) => {
    await checkContainer(source);
    const zip = await ZipArchive.open(source);
    const prefix = archivePrefix(zip, source.name);
    await checkByteOrder(zip, prefix, source.name);

    const pickle = await zip.read(zip.entries.get(`${prefix}/data.pkl`)!);
    const storages = new Map<string, StorageRef>();
    const root = unpickle(pickle, {
      source: source.name,
      resolveGlobal: resolveTorchGlobal,
      persistentLoad(pid, fail) {
        const storage = torchStorageRef(pid, fail);
        const known = storages.get(storage.key);
        if (known && (known.dtype !== storage.dtype || known.numel !== storage.numel)) {
          fail(`storage ${quoted(storage.key)} is named as both ${known.typeName} and ${storage.typeName}`);
        }
        if (!known) storages.set(storage.key, storage);
        return known ?? storage;
      },
    });
    const views = stateDictViews(root, source.name);
    return materialize(views, zip, prefix, source.name, options.signal);
  });
}

async function checkContainer(source: ByteSource): Promise<void> {
  const head = await source.read(0, Math.min(source.size, 512));
  // Pre-1.6 files are a bare pickle (protocol 2 header) or, older still, a tar archive.
  if (head.length >= 2 && head[0] === 0x80 && head[1] <= 5) throw new InputError(source.name, LEGACY_FORMAT);
  if (head.length >= 262 && new TextDecoder('latin1').decode(head.subarray(257, 262)) === 'ustar') throw new InputError(source.name, LEGACY_FORMAT);
  if (!(head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04)) {
    throw new InputError(source.name, 'not a PyTorch checkpoint (expected the zip archive torch.save writes)');
  }
}

function archivePrefix(zip: ZipArchive, name: string): string {
  const pickles = [...zip.entries.keys()].filter((entry) => /^[^/]+\/data\.pkl$/.test(entry));
  if (pickles.length === 0) throw new InputError(name, 'zip archive has no <name>/data.pkl: not written by torch.save');
  if (pickles.length > 1) throw new InputError(name, `zip archive holds ${pickles.length} pickles (${pickles.map(quoted).join(', ')}); expected one`);
  return pickles[0].slice(0, -'/data.pkl'.length);
}

async function checkByteOrder(zip: ZipArchive, prefix: string, name: string): Promise<void> {
  const entry = zip.entries.get(`${prefix}/byteorder`);
  if (!entry) return; // torch before 2.1 writes none; those files are little-endian
  if (entry.size > 16) throw new InputError(name, 'byteorder record is malformed');
  const order = new TextDecoder('latin1').decode(await zip.read(entry)).trim();
  if (order === 'big') throw new InputError(name, 'was saved on a big-endian machine; big-endian checkpoints are not supported');
  if (order !== 'little') throw new InputError(name, `byteorder record says ${quoted(order)}; expected "little"`);
}

/** The state dict's (name, view) pairs; anything but a flat dict of tensors is refused. */
function stateDictViews(root: unknown, name: string): Array<[string, TensorRef]> {
  if (!(root instanceof PyDict)) throw new InputError(name, 'pickle does not hold a state dict (a dict of tensors)');
  const views: Array<[string, TensorRef]> = [];
  for (const [key, value] of root.entries) {
    if (typeof key !== 'string') throw new InputError(name, `state dict has a key that is not a string (${oneLine(String(key))})`);
    if (!(value instanceof TensorRef)) throw new InputError(name, `state dict entry ${quoted(key)} is a ${pythonKind(value)}, not a tensor`);
    views.push([key, value]);
  }
  return views;
}

async function materialize(views: Array<[string, TensorRef]>, zip: ZipArchive, prefix: string, name: string, signal?: AbortSignal): Promise<TensorFileContents> {
  // Storages are decoded one at a time and dropped once every view of them is copied.
  const byStorage = new Map<string, Array<[string, TensorRef]>>();
  for (const item of views) {
    const list = byStorage.get(item[1].storage.key) ?? [];
    list.push(item);
    byStorage.set(item[1].storage.key, list);
  }
  const tensors = new Map<string, Tensor>();
  for (const [key, list] of byStorage) {
    throwIfAborted(signal);
    const storage = list[0][1].storage;
    const entry: ZipEntry | undefined = zip.entries.get(`${prefix}/data/${key}`);
    if (!entry) throw new InputError(name, `storage ${quoted(key)} is missing from the archive (${oneLine(`${prefix}/data/${key}`)})`);
    const needed = storage.numel * bytesPerElement(storage.dtype);
    if (entry.size !== needed) {
      throw new InputError(name, `storage ${quoted(key)} holds ${entry.size} bytes but ${storage.numel} elements of ${storage.dtype} need ${needed}`);
    }
    const values = decode(storage.dtype, await zip.read(entry), storage.numel);
    for (const [tensorName, view] of list) {
      tensors.set(tensorName, { dtype: memoryDType(storage.dtype), shape: [...view.size], data: copyView(values, view, storage.dtype) });
    }
  }
  // Keep the pickle's order, which is the model's parameter order.
  const ordered = new Map<string, Tensor>();
  const storedDtypes = new Map<string, StoredDType>();
  for (const [tensorName, view] of views) {
    ordered.set(tensorName, tensors.get(tensorName)!);
    storedDtypes.set(tensorName, view.storage.dtype);
  }
  return { tensors: ordered, storedDtypes };
}

/** The view's elements, in row-major order, as a new array. */
function copyView(values: TensorData, view: TensorRef, stored: StoredDType): TensorData {
  const count = elementCount(view.size);
  if (isContiguous(view)) return values.slice(view.offset, view.offset + count);
  const out = allocate(memoryDType(stored), count);
  const rank = view.size.length;
  const index = new Array<number>(rank).fill(0);
  let from = view.offset;
  for (let i = 0; i < count; i++) {
    (out as Float32Array)[i] = (values as Float32Array)[from];
    // Odometer over the dimensions, innermost fastest.
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < view.size[d]) { from += view.stride[d]; break; }
      from -= (view.size[d] - 1) * view.stride[d];
      index[d] = 0;
    }
  }
  return out;
}

function isContiguous(view: TensorRef): boolean {
  let expected = 1;
  for (let d = view.size.length - 1; d >= 0; d--) {
    if (view.size[d] !== 1 && view.stride[d] !== expected) return false;
    expected *= view.size[d];
  }
  return true;
}

function pythonKind(value: unknown): string {
  if (value === null) return 'None';
  if (value instanceof PyDict) return 'dict';
  if (value instanceof StorageRef) return 'storage';
  if (value instanceof PyList) return 'list';
  if (value instanceof PyTuple) return 'tuple';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number' || typeof value === 'bigint') return 'number';
  return typeof value === 'object' ? 'Python object' : typeof value;
}
