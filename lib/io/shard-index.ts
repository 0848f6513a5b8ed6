/**
 * HF's index of a sharded checkpoint (model.safetensors.index.json,
 * pytorch_model.bin.index.json): {"metadata": {"total_size": bytes}, "weight_map":
 * {tensor: shard file}}. Reading it checks that every shard is a plain file name in the
 * model folder (an index must not point elsewhere); writing splits tensors the way
 * transformers does, starting a new shard when the next tensor would not fit.
 */
import { InputError } from '../errors.ts';
import { parseJsonObject, readTextFile } from './json-file.ts';
import { oneLine, quoted } from './messages.ts';

export interface ShardIndex {
  /** Shard files, in the order their names number them. */
  files: string[];
  weightMap: Map<string, string>;
}

export async function readShardIndex(path: string): Promise<ShardIndex> {
  return parseShardIndex(await readTextFile(path), path);
}

export function parseShardIndex(text: string, source: string): ShardIndex {
  const fail = (fault: string): never => { throw new InputError(source, fault); };
  const weightMap = parseJsonObject(text, source).weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) return fail('has no "weight_map" object');
  const map = new Map<string, string>();
  const files: string[] = [];
  for (const [tensor, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || !isPlainFileName(file)) fail(`"weight_map" entry ${quoted(tensor)} must name a file in the model folder (got ${oneLine(JSON.stringify(file) ?? 'nothing')})`);
    map.set(tensor, file);
    if (!files.includes(file)) files.push(file);
  }
  if (map.size === 0) fail('"weight_map" is empty');
  // HF writes the weight map sorted by tensor name; shard numbers give the model's order.
  files.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return { files, weightMap: map };
}

function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

/** Groups tensor sizes into shards of at most `maxBytes` (a larger tensor gets a shard of its own). */
export function planShards(sizes: Array<[string, number]>, maxBytes: number): string[][] {
  const shards: string[][] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const [name, bytes] of sizes) {
    if (current.length > 0 && currentBytes + bytes > maxBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(name);
    currentBytes += bytes;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/** HF's shard file name, e.g. model-00001-of-00003.safetensors. */
export function shardFileName(stem: string, extension: string, index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${stem}-${pad(index + 1)}-of-${pad(count)}.${extension}`;
}

export function shardIndexJson(totalSize: number, weightMap: Map<string, string>): string {
  const sorted = Object.fromEntries([...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2)}\n`;
}

const UNITS: Record<string, number> = {
  B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40,
};

/** A shard size in bytes from a number or a string such as "5GB" or "500MiB" (HF's units). */
export function parseByteSize(value: number | string, source = 'max shard size'): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value > 0) return value;
    throw new InputError(source, `must be a positive whole number of bytes (got ${value})`);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match ? UNITS[(match[2] || 'B').toUpperCase()] : undefined;
  const bytes = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new InputError(source, `${quoted(value)} is not a size such as 500MB or 5GB`);
  return bytes;
}
