/**
 * Emits pickle opcodes by hand, so tests can build the streams torch.save writes and the
 * ones it never would (hostile globals, broken stacks, odd protocols).
 */
export interface StorageSpec { key: string; type?: string; numel: number }
export interface ViewSpec { storage: StorageSpec; offset?: number; size: number[]; stride?: number[] }

export class PickleWriter {
  private readonly bytes: number[] = [];

  raw(...values: number[]): this { this.bytes.push(...values); return this; }
  proto(version = 2): this { return this.raw(0x80, version); }
  mark(): this { return this.raw(0x28); }
  stop(): this { return this.raw(0x2e); }
  none(): this { return this.raw(0x4e); }
  bool(value: boolean): this { return this.raw(value ? 0x88 : 0x89); }
  emptyTuple(): this { return this.raw(0x29); }
  tuple(): this { return this.raw(0x74); }
  emptyDict(): this { return this.raw(0x7d); }
  emptyList(): this { return this.raw(0x5d); }
  append(): this { return this.raw(0x61); }
  setitem(): this { return this.raw(0x73); }
  setitems(): this { return this.raw(0x75); }
  reduce(): this { return this.raw(0x52); }
  build(): this { return this.raw(0x62); }
  binpersid(): this { return this.raw(0x51); }
  put(index: number): this { return this.raw(0x71, index); }
  get(index: number): this { return this.raw(0x68, index); }

  int(value: number): this {
    if (value >= 0 && value < 256) return this.raw(0x4b, value);
    if (value >= 0 && value < 65536) return this.raw(0x4d, value & 0xff, value >> 8);
    if (value >= -(2 ** 31) && value < 2 ** 31) return this.raw(0x4a, ...le(value >>> 0, 4));
    // LONG1: minimal two's complement little-endian
    let big = BigInt(value);
    const out: number[] = [];
    for (let i = 0; i < 9; i++) { out.push(Number(big & 0xffn)); big >>= 8n; }
    return this.raw(0x8a, out.length, ...out);
  }

  str(text: string): this {
    const utf8 = [...Buffer.from(text, 'utf8')];
    return this.raw(0x58, ...le(utf8.length, 4), ...utf8);
  }

  global(module: string, name: string): this {
    return this.raw(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }

  intTuple(values: number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }

  /** A tensor the way torch.save pickles it: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
  tensor(view: ViewSpec): this {
    const { storage } = view;
    const stride = view.stride ?? contiguousStride(view.size);
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storage.type ?? 'FloatStorage').str(storage.key).str('cpu').int(storage.numel).tuple().binpersid();
    this.int(view.offset ?? 0).intTuple(view.size).intTuple(stride).bool(false);
    this.global('collections', 'OrderedDict').emptyTuple().reduce();
    return this.tuple().reduce();
  }

  /** An OrderedDict of tensors, as torch.save writes a state dict. */
  stateDict(entries: Array<[string, ViewSpec]>): this {
    this.proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    for (const [name, view] of entries) this.str(name).tensor(view);
    return this.setitems();
  }

  toBytes(): Uint8Array { return Uint8Array.from(this.bytes); }
}

function le(value: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.floor(value / 2 ** (8 * i)) & 0xff);
}

export function contiguousStride(size: number[]): number[] {
  const stride = new Array<number>(size.length);
  let step = 1;
  for (let d = size.length - 1; d >= 0; d--) { stride[d] = step; step *= size[d]; }
  return stride;
}
