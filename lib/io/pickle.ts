/**
 * A restricted pickle interpreter: it understands the opcodes of protocols 0-5 that plain
 * data needs (numbers, strings, bytes, tuples, lists, dicts, sets, memo, marks,
 * persistent ids) and never imports or runs anything. A GLOBAL names a stand-in from an
 * allowlist the caller supplies; any other global is refused with its name, and the
 * opcodes that build arbitrary objects (INST, OBJ, NEWOBJ, extension codes, out-of-band
 * buffers) are refused outright. The interpreter is a loop over the bytes with explicit
 * stacks, so a hostile stream cannot recurse it into a crash, and every length is checked
 * against the bytes that remain before anything is read or allocated.
 */
import { InputError } from '../errors.ts';
import { oneLine, quoted } from './messages.ts';

export type Fail = (fault: string) => never;

export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

export class PyList {
  constructor(readonly items: unknown[] = []) {}
}

/** A dict or collections.OrderedDict; `state` is what a BUILD set on it (OrderedDict attributes). */
export class PyDict {
  readonly entries = new Map<DictKey, unknown>();
  state: unknown = undefined;
}

export type DictKey = string | number | bigint | boolean | null;

/** A global the allowlist accepted: a callable stand-in, or an inert token (a type, a dtype). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    /** Present for globals that REDUCE may call. */
    readonly call?: (args: readonly unknown[], fail: Fail) => unknown,
    /** What the token stands for (e.g. a dtype), for callables that take it as an argument. */
    readonly meaning?: unknown,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface PickleOptions {
  /** How errors name the stream (the file, or file and entry). */
  source: string;
  /** The allowlist: a stand-in for "module.name", or undefined to refuse it. */
  resolveGlobal(module: string, name: string): PyGlobal | undefined;
  /** Resolves a persistent id (BINPERSID); absent means persistent ids are refused. */
  persistentLoad?(pid: unknown, fail: Fail): unknown;
}

/** Longest integer (in bytes) LONG1/LONG4 may carry; tensor files hold only small ints. */
const MAX_LONG_BYTES = 64;

const enum Op {
  MARK = 0x28, STOP = 0x2e, POP = 0x30, POP_MARK = 0x31, DUP = 0x32, FLOAT = 0x46, INT = 0x49,
  BININT = 0x4a, BININT1 = 0x4b, LONG = 0x4c, BININT2 = 0x4d, NONE = 0x4e, PERSID = 0x50,
  BINPERSID = 0x51, REDUCE = 0x52, STRING = 0x53, BINSTRING = 0x54, SHORT_BINSTRING = 0x55,
  UNICODE = 0x56, BINUNICODE = 0x58, APPEND = 0x61, BUILD = 0x62, GLOBAL = 0x63, DICT = 0x64,
  EMPTY_DICT = 0x7d, APPENDS = 0x65, GET = 0x67, BINGET = 0x68, INST = 0x69, LONG_BINGET = 0x6a,
  LIST = 0x6c, EMPTY_LIST = 0x5d, OBJ = 0x6f, PUT = 0x70, BINPUT = 0x71, LONG_BINPUT = 0x72,
  SETITEM = 0x73, TUPLE = 0x74, EMPTY_TUPLE = 0x29, SETITEMS = 0x75, BINFLOAT = 0x47,
  PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86,
  TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
  BINBYTES = 0x42, SHORT_BINBYTES = 0x43,
  SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f,
  ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94,
  FRAME = 0x95, BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
}

const OBJECT_BUILDERS: Record<number, string> = {
  [Op.INST]: 'INST', [Op.OBJ]: 'OBJ', [Op.NEWOBJ]: 'NEWOBJ', [Op.NEWOBJ_EX]: 'NEWOBJ_EX',
  [Op.EXT1]: 'EXT1', [Op.EXT2]: 'EXT2', [Op.EXT4]: 'EXT4', [Op.NEXT_BUFFER]: 'NEXT_BUFFER',
  [Op.READONLY_BUFFER]: 'READONLY_BUFFER', [Op.PERSID]: 'PERSID',
};

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/** Runs the pickle in `bytes` and returns the object it builds. */
export function unpickle(bytes: Uint8Array, options: PickleOptions): unknown {
  const data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let opStart = 0;
  const fail: Fail = (fault) => { throw new InputError(options.source, `pickle ${fault}`); };
  const failAt = (fault: string): never => fail(`${fault} (at byte ${opStart})`);

  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number): void => {
    if (n > bytes.length - pos) failAt('is truncated');
  };
  const u8 = (): number => { need(1); return bytes[pos++]; };
  const u16 = (): number => { need(2); const v = data.getUint16(pos, true); pos += 2; return v; };
  const u32 = (): number => { need(4); const v = data.getUint32(pos, true); pos += 4; return v; };
  const i32 = (): number => { need(4); const v = data.getInt32(pos, true); pos += 4; return v; };
  const u64 = (): number => {
    need(8);
    const v = data.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) failAt(`claims a length of ${v} bytes, more than the stream holds`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => { need(n); const v = bytes.subarray(pos, pos + n); pos += n; return v; };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) failAt('is truncated (a text argument has no end of line)');
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };

  const push = (value: unknown): void => { stack.push(value); };
  const pop = (): unknown => {
    if (stack.length === 0) failAt('pops from an empty stack');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) failAt('reads from an empty stack');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const previous = marks.pop();
    if (!previous) failAt('uses a MARK that was never set');
    stack = previous!;
    return items;
  };
  const memoGet = (index: number): void => {
    if (!memo.has(index)) failAt(`reads memo slot ${index}, which was never set`);
    push(memo.get(index));
  };
  const memoPut = (index: number): void => { memo.set(index, top()); };
  const global = (module: string, name: string): void => {
    const standIn = options.resolveGlobal(module, name);
    if (!standIn) fail(`references the forbidden global ${oneLine(`${module}.${name}`)}`);
    push(standIn);
  };
  const dictOf = (value: unknown, what: string): PyDict => {
    if (!(value instanceof PyDict)) failAt(`applies ${what} to something that is not a dict`);
    return value as PyDict;
  };
  const setItem = (dict: PyDict, key: unknown, value: unknown): void => {
    if (!isDictKey(key)) failAt('uses a dict key that is not a string, number, bool or None');
    dict.entries.set(key as DictKey, value);
  };
  const listOf = (value: unknown, what: string): PyList => {
    if (!(value instanceof PyList)) failAt(`applies ${what} to something that is not a list`);
    return value as PyList;
  };

  for (;;) {
    opStart = pos;
    const op = u8();
    switch (op) {
      case Op.PROTO: {
        const version = u8();
        if (version > 5) failAt(`has protocol ${version}; only 0 to 5 exist`);
        break;
      }
      case Op.FRAME: u64(); break;
      case Op.STOP: return pop();
      case Op.MARK: marks.push(stack); stack = []; break;
      case Op.POP: pop(); break;
      case Op.POP_MARK: popMark(); break;
      case Op.DUP: push(top()); break;

      case Op.NONE: push(null); break;
      case Op.NEWTRUE: push(true); break;
      case Op.NEWFALSE: push(false); break;
      case Op.BININT: push(i32()); break;
      case Op.BININT1: push(u8()); break;
      case Op.BININT2: push(u16()); break;
      case Op.LONG1: push(littleEndianInt(take(u8()))); break;
      case Op.LONG4: {
        const n = i32();
        if (n < 0 || n > MAX_LONG_BYTES) failAt(`holds an integer of ${n} bytes; tensor files need only small ones`);
        push(littleEndianInt(take(n)));
        break;
      }
      case Op.INT: push(parseTextInt(line(), failAt)); break;
      case Op.LONG: push(parseTextInt(line().replace(/L$/, ''), failAt)); break;
      case Op.FLOAT: push(parseTextFloat(line(), failAt)); break;
      case Op.BINFLOAT: need(8); push(data.getFloat64(pos, false)); pos += 8; break;

      case Op.SHORT_BINUNICODE: push(utf8.decode(take(u8()))); break;
      case Op.BINUNICODE: push(utf8.decode(take(u32()))); break;
      case Op.BINUNICODE8: push(utf8.decode(take(u64()))); break;
      case Op.UNICODE: push(decodeRawUnicodeEscape(line())); break;
      case Op.SHORT_BINSTRING: push(latin1.decode(take(u8()))); break;
      case Op.BINSTRING: {
        const n = i32();
        if (n < 0) failAt('holds a string of negative length');
        push(latin1.decode(take(n)));
        break;
      }
      case Op.STRING: push(parseQuotedString(line(), failAt)); break;
      case Op.SHORT_BINBYTES: push(new Uint8Array(take(u8()))); break;
      case Op.BINBYTES: push(new Uint8Array(take(u32()))); break;
      case Op.BINBYTES8: case Op.BYTEARRAY8: push(new Uint8Array(take(u64()))); break;

      case Op.EMPTY_TUPLE: push(new PyTuple([])); break;
      case Op.TUPLE1: push(new PyTuple([pop()])); break;
      case Op.TUPLE2: { const b = pop(); const a = pop(); push(new PyTuple([a, b])); break; }
      case Op.TUPLE3: { const c = pop(); const b = pop(); const a = pop(); push(new PyTuple([a, b, c])); break; }
      case Op.TUPLE: push(new PyTuple(popMark())); break;
      case Op.EMPTY_LIST: push(new PyList()); break;
      case Op.LIST: push(new PyList(popMark())); break;
      case Op.APPEND: { const value = pop(); listOf(top(), 'APPEND').items.push(value); break; }
      case Op.APPENDS: {
        const values = popMark();
        const list = listOf(top(), 'APPENDS');
        for (const value of values) list.items.push(value);
        break;
      }
      case Op.EMPTY_DICT: push(new PyDict()); break;
      case Op.DICT: {
        const items = popMark();
        if (items.length % 2) failAt('builds a dict from an odd number of items');
        const dict = new PyDict();
        for (let i = 0; i < items.length; i += 2) setItem(dict, items[i], items[i + 1]);
        push(dict);
        break;
      }
      case Op.SETITEM: { const value = pop(); const key = pop(); setItem(dictOf(top(), 'SETITEM'), key, value); break; }
      case Op.SETITEMS: {
        const items = popMark();
        if (items.length % 2) failAt('sets an odd number of dict items');
        const dict = dictOf(top(), 'SETITEMS');
        for (let i = 0; i < items.length; i += 2) setItem(dict, items[i], items[i + 1]);
        break;
      }
      case Op.EMPTY_SET: push(new PyList()); break;
      case Op.ADDITEMS: {
        const values = popMark();
        const set = listOf(top(), 'ADDITEMS');
        for (const value of values) set.items.push(value);
        break;
      }
      case Op.FROZENSET: push(new PyTuple(popMark())); break;

      case Op.GET: memoGet(parseTextInt(line(), failAt) as number); break;
      case Op.BINGET: memoGet(u8()); break;
      case Op.LONG_BINGET: memoGet(u32()); break;
      case Op.PUT: memoPut(parseTextInt(line(), failAt) as number); break;
      case Op.BINPUT: memoPut(u8()); break;
      case Op.LONG_BINPUT: memoPut(u32()); break;
      case Op.MEMOIZE: memoPut(memo.size); break;

      case Op.GLOBAL: { const module = line(); global(module, line()); break; }
      case Op.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') failAt('STACK_GLOBAL needs two strings');
        global(module as string, name as string);
        break;
      }
      case Op.REDUCE: {
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PyGlobal) || !callable.call) failAt('calls something that is not an allowed function');
        if (!(args instanceof PyTuple)) failAt(`calls ${(callable as PyGlobal).qualifiedName} without an argument tuple`);
        push((callable as PyGlobal).call!((args as PyTuple).items, (fault) => failAt(`${(callable as PyGlobal).qualifiedName}: ${fault}`)));
        break;
      }
      case Op.BUILD: {
        const state = pop();
        const target = top();
        // Only the attributes an OrderedDict carries (torch's state_dict `_metadata`) are accepted.
        if (!(target instanceof PyDict)) failAt('sets state (BUILD) on something that is not a dict');
        (target as PyDict).state = state;
        break;
      }
      case Op.BINPERSID: {
        const pid = pop();
        if (!options.persistentLoad) failAt('uses a persistent id, which this stream may not');
        push(options.persistentLoad!(pid, (fault) => failAt(fault)));
        break;
      }
      default: {
        const builder = OBJECT_BUILDERS[op];
        if (builder) failAt(`uses the ${builder} opcode, which builds arbitrary objects; tensor files never need it`);
        failAt(`has an unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
}

function isDictKey(value: unknown): value is DictKey {
  return value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value);
}

/** Two's-complement little-endian bytes as a number (a bigint when beyond 2^53). */
function littleEndianInt(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(8 * bytes.length);
  return narrow(value);
}

function narrow(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function parseTextInt(text: string, fail: Fail): number | bigint | boolean {
  // Protocol 0 spells booleans as INT "00" and "01".
  if (text === '00') return false;
  if (text === '01') return true;
  if (!/^[+-]?\d{1,40}$/.test(text)) fail(`holds a malformed integer ${quoted(text.slice(0, 40))}`);
  return narrow(BigInt(text));
}

function parseTextFloat(text: string, fail: Fail): number {
  const word = text.trim().toLowerCase();
  if (word === 'nan') return NaN;
  if (word === 'inf' || word === '+inf') return Infinity;
  if (word === '-inf') return -Infinity;
  const value = Number(word);
  if (word === '' || Number.isNaN(value)) fail(`holds a malformed float ${quoted(text.slice(0, 40))}`);
  return value;
}

function parseQuotedString(text: string, fail: Fail): string {
  const quote = text[0];
  if (text.length < 2 || (quote !== '"' && quote !== "'") || text[text.length - 1] !== quote) fail('holds a STRING without matching quotes');
  return text.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) =>
    e[0] === 'x' ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e] ?? e);
}

function decodeRawUnicodeEscape(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (whole, four?: string, eight?: string) => {
    const code = parseInt(four ?? eight ?? '', 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}
