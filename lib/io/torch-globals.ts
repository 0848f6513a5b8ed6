/**
 * The only globals a torch.save pickle may name, and the stand-ins that replace them.
 * Rebuilding a tensor produces a description (storage, offset, sizes, strides), not
 * data: torch-bin.ts checks it against the archive and copies the values afterwards.
 */
import { PyDict, PyGlobal, PyList, PyTuple, type Fail } from './pickle.ts';
import type { StoredDType } from './dtype.ts';
import { quoted } from './messages.ts';

/** A storage named by a persistent id: ('storage', torch.FloatStorage, key, location, numel). */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: StoredDType,
    /** Elements (not bytes) the storage holds. */
    readonly numel: number,
    /** The storage class as the pickle names it, e.g. torch.FloatStorage. */
    readonly typeName: string,
  ) {}
}

/** A tensor as a view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

const STORAGE_DTYPES: Record<string, StoredDType> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8',
  ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const TORCH_DTYPES: Record<string, StoredDType> = {
  float64: 'F64', double: 'F64', float32: 'F32', float: 'F32', float16: 'F16', half: 'F16',
  bfloat16: 'BF16', int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16',
  short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

const TENSOR_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter', 'torch._tensor.Tensor']);

/** The allowlist for torch checkpoints: a stand-in for `module.name`, or undefined. */
export function resolveTorchGlobal(module: string, name: string): PyGlobal | undefined {
  const qualified = `${module}.${name}`;
  if (module === 'torch' && Object.hasOwn(STORAGE_DTYPES, name)) return new PyGlobal(module, name, undefined, STORAGE_DTYPES[name]);
  if (module === 'torch' && Object.hasOwn(TORCH_DTYPES, name)) return new PyGlobal(module, name, undefined, TORCH_DTYPES[name]);
  if (TENSOR_TYPES.has(qualified)) return new PyGlobal(module, name);
  switch (qualified) {
    case 'collections.OrderedDict': return new PyGlobal(module, name, orderedDict);
    case 'torch._utils._rebuild_tensor': return new PyGlobal(module, name, (args, fail) => rebuildTensor(args, 4, fail));
    case 'torch._utils._rebuild_tensor_v2': return new PyGlobal(module, name, (args, fail) => rebuildTensor(args, 6, fail));
    case 'torch._utils._rebuild_parameter': return new PyGlobal(module, name, (args, fail) => rebuildParameter(args, 3, fail));
    case 'torch._utils._rebuild_parameter_with_state': return new PyGlobal(module, name, (args, fail) => rebuildParameter(args, 4, fail));
    case 'torch._tensor._rebuild_from_type_v2': return new PyGlobal(module, name, rebuildFromType);
    default: return undefined;
  }
}

/** Resolves torch's persistent id tuple to a storage reference. */
export function torchStorageRef(pid: unknown, fail: Fail): StorageRef {
  if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
    return fail('persistent id is not a (\'storage\', type, key, location, numel) tuple');
  }
  const [, type, key, location, numel] = pid.items;
  if (!(type instanceof PyGlobal) || type.module !== 'torch' || !Object.hasOwn(STORAGE_DTYPES, type.name)) {
    return fail('persistent id names no supported storage type');
  }
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key) || key.includes('..')) return fail('persistent id has an invalid storage key');
  if (typeof location !== 'string') return fail('persistent id has an invalid location');
  if (!isCount(numel)) return fail(`storage ${quoted(key)} has an invalid element count`);
  return new StorageRef(key, type.meaning as StoredDType, numel, type.qualifiedName);
}

function orderedDict(args: readonly unknown[], fail: Fail): PyDict {
  const dict = new PyDict();
  if (args.length === 0) return dict;
  const source = args[0];
  if (args.length > 1 || !(source instanceof PyList || source instanceof PyTuple)) return fail('expects no arguments or a list of pairs');
  for (const pair of source.items) {
    if (!(pair instanceof PyTuple) || pair.items.length !== 2 || !isKey(pair.items[0])) return fail('expects (key, value) pairs');
    dict.entries.set(pair.items[0] as string | number, pair.items[1]);
  }
  return dict;
}

function rebuildTensor(args: readonly unknown[], minArgs: number, fail: Fail): TensorRef {
  // Newer torch appends a metadata argument; it carries nothing we need.
  if (args.length < minArgs || args.length > minArgs + 1) fail(`expects ${minArgs} arguments, got ${args.length}`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) fail('first argument is not a storage');
  if (!isCount(offset)) fail('storage offset is not a non-negative integer');
  const sizes = countTuple(size, 'size', fail);
  const strides = countTuple(stride, 'stride', fail);
  if (sizes.length !== strides.length) fail(`size has ${sizes.length} dimensions but stride has ${strides.length}`);
  if (minArgs === 6 && typeof args[4] !== 'boolean') fail('requires_grad is not a bool');
  return checkView(new TensorRef(storage as StorageRef, offset as number, sizes, strides), fail);
}

/** The view must stay inside its storage, and may not hold more elements than the storage. */
function checkView(view: TensorRef, fail: Fail): TensorRef {
  const { storage, offset, size, stride } = view;
  const shape = `[${size.join(', ')}]`;
  if (size.includes(0)) {
    if (offset > storage.numel) fail(`storage offset ${offset} is past the end of storage ${quoted(storage.key)} (${storage.numel} elements)`);
    return view;
  }
  let last = BigInt(offset);
  let count = 1n;
  for (let d = 0; d < size.length; d++) {
    last += BigInt(size[d] - 1) * BigInt(stride[d]);
    count *= BigInt(size[d]);
  }
  if (last >= BigInt(storage.numel)) fail(`view ${shape} at offset ${offset} reaches past the end of storage ${quoted(storage.key)} (${storage.numel} elements)`);
  // Only stride-0 (broadcast) views hold more elements than their storage; materialising
  // one could take far more memory than the file, so such views are refused.
  if (count > BigInt(storage.numel)) fail(`view ${shape} repeats elements of storage ${quoted(storage.key)} (a broadcast view); save a contiguous copy instead`);
  return view;
}

function rebuildParameter(args: readonly unknown[], count: number, fail: Fail): TensorRef {
  if (args.length !== count || !(args[0] instanceof TensorRef)) fail('expects a tensor as its first argument');
  return args[0] as TensorRef;
}

function rebuildFromType(args: readonly unknown[], fail: Fail): unknown {
  if (args.length !== 4) fail(`expects 4 arguments, got ${args.length}`);
  const [func, type, inner] = args;
  if (!(type instanceof PyGlobal) || !TENSOR_TYPES.has(type.qualifiedName)) fail('rebuilds a type other than a tensor or parameter');
  if (!(func instanceof PyGlobal) || !func.call || !func.name.startsWith('_rebuild_')) fail('uses a rebuild function that is not allowed');
  if (!(inner instanceof PyTuple)) fail('has no argument tuple');
  return (func as PyGlobal).call!((inner as PyTuple).items, fail);
}

function countTuple(value: unknown, what: string, fail: Fail): number[] {
  if (!(value instanceof PyTuple) || !value.items.every(isCount)) return fail(`${what} is not a tuple of non-negative integers`);
  if (value.items.length > 64) return fail(`${what} has ${value.items.length} dimensions`);
  return [...value.items] as number[];
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isKey(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number';
}
