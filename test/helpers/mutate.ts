/**
 * Seeded mutations for fuzz tests. Each mutation returns new bytes and a description
 * that, with the seed, is enough to reproduce a failure by hand.
 */
export type Random = () => number;

export interface Mutated { bytes: Uint8Array; description: string }

export type Mutator = (bytes: Uint8Array, random: Random) => Mutated;

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)];
const below = (random: Random, n: number): number => Math.floor(random() * n);

/** Values that break parsers: boundaries, signs, huge numbers. */
export const INTERESTING_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
export const INTERESTING_JSON: unknown[] = [
  0, 1, -1, 7, 0.5, -0.0, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, 1e308, -1e308, '', 'F16', 'BF16', 'F8_E4M3', 'I64', 'BOOL', 'x', null, true,
  [], [0], [-1], [1, 0], [0, 2 ** 53], [1e9, 1e9, 1e9], [2 ** 32, 2 ** 32], {}, { a: 1 }, [[1]], ['1'],
];

export const bitFlip: Mutator = (bytes, random) => {
  const out = bytes.slice();
  const flips = 1 + below(random, 4);
  const where: number[] = [];
  for (let i = 0; i < flips && out.length > 0; i++) {
    const at = below(random, out.length);
    out[at] ^= 1 << below(random, 8);
    where.push(at);
  }
  return { bytes: out, description: `flip bits at ${where.join(', ')}` };
};

export const overwrite: Mutator = (bytes, random) => {
  const out = bytes.slice();
  if (out.length === 0) return { bytes: out, description: 'overwrite nothing' };
  const at = below(random, out.length);
  const length = Math.min(out.length - at, 1 + below(random, 8));
  const value = pick(random, [0x00, 0xff, 0x7f, 0x80, -1]);
  for (let i = 0; i < length; i++) out[at + i] = value < 0 ? below(random, 256) : value;
  return { bytes: out, description: `overwrite ${length} bytes at ${at} with ${value < 0 ? 'random' : value}` };
};

export const writeU32: Mutator = (bytes, random) => {
  const out = bytes.slice();
  if (out.length < 4) return { bytes: out, description: 'u32 on a short input' };
  const at = below(random, out.length - 3);
  const value = pick(random, [...INTERESTING_U32, out.length, out.length - at]);
  new DataView(out.buffer).setUint32(at, value >>> 0, true);
  return { bytes: out, description: `write u32 ${value} at ${at}` };
};

export const truncate: Mutator = (bytes, random) => {
  const length = below(random, bytes.length + 1);
  return { bytes: bytes.slice(0, length), description: `truncate to ${length} of ${bytes.length}` };
};

export const insert: Mutator = (bytes, random) => {
  const at = below(random, bytes.length + 1);
  const extra = Uint8Array.from({ length: 1 + below(random, 16) }, () => below(random, 256));
  const out = new Uint8Array(bytes.length + extra.length);
  out.set(bytes.subarray(0, at));
  out.set(extra, at);
  out.set(bytes.subarray(at), at + extra.length);
  return { bytes: out, description: `insert ${extra.length} bytes at ${at}` };
};

export const remove: Mutator = (bytes, random) => {
  const at = below(random, bytes.length + 1);
  const length = Math.min(bytes.length - at, 1 + below(random, 16));
  const out = new Uint8Array(bytes.length - length);
  out.set(bytes.subarray(0, at));
  out.set(bytes.subarray(at + length), at);
  return { bytes: out, description: `delete ${length} bytes at ${at}` };
};

export const GENERIC: readonly Mutator[] = [bitFlip, overwrite, writeU32, truncate, insert, remove];

/** Applies 1 to `max` mutations chosen from `mutators`. */
export function mutateMany(bytes: Uint8Array, random: Random, mutators: readonly Mutator[], max = 3): Mutated {
  let current = bytes;
  const steps: string[] = [];
  const count = 1 + below(random, max);
  for (let i = 0; i < count; i++) {
    const result = pick(random, mutators)(current, random);
    current = result.bytes;
    steps.push(result.description);
  }
  return { bytes: current, description: steps.join('; ') };
}

/** Sets one randomly chosen field, at any depth, of a JSON value to an interesting value. */
export function tamperJson(value: unknown, random: Random): { value: unknown; description: string } {
  const copy = structuredClone(value);
  const paths: Array<Array<string | number>> = [];
  const walk = (node: unknown, path: Array<string | number>): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, child] of Object.entries(node)) {
      const next = [...path, Array.isArray(node) ? Number(key) : key];
      paths.push(next);
      walk(child, next);
    }
  };
  walk(copy, []);
  if (paths.length === 0) return { value: copy, description: 'tamper nothing' };
  const path = pick(random, paths);
  const replacement = pick(random, INTERESTING_JSON);
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (random() < 0.1 && !Array.isArray(node)) {
    delete node[last];
    return { value: copy, description: `delete ${path.join('.')}` };
  }
  node[last] = structuredClone(replacement);
  return { value: copy, description: `set ${path.join('.')} to ${JSON.stringify(replacement)}` };
}
