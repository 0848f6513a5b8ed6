/**
 * Flat dotted keys <-> nested dictionaries, the data model of the reference
 * implementation: 'vit.encoder.layer.0.attention.attention.query.weight' becomes
 * nested.vit.encoder.layer['0'].attention.attention.query.weight. Numeric segments such
 * as layer indices stay string keys. Branches are plain objects; a leaf is anything else
 * (a Tensor, a typed array, a number) - a plain object that looks like a Tensor is a leaf.
 *
 * Unlike the reference (which hides a clash under a 'data' key), a key that is both a
 * leaf and the prefix of another key is an error: it cannot round-trip.
 *
 * Key order: JavaScript objects list integer-like keys first, in ascending order, then
 * the others in insertion order. Layer indices therefore come out numerically sorted.
 */
import { InputError } from './errors.ts';
import { isTensor } from './io/tensor.ts';
import { quoted } from './io/messages.ts';

export interface NestedDict<T> {
  [key: string]: T | NestedDict<T>;
}

export interface NestedOptions {
  /** Separator between segments; default '.'. */
  separator?: string;
  /** Names the input in errors (a file, a model); default 'nested dictionary'. */
  source?: string;
}

/** Builds a nested dictionary from flat keys. */
export function unflatten<T>(flat: Map<string, T> | Record<string, T> | Iterable<[string, T]>, options: NestedOptions = {}): NestedDict<T> {
  const separator = options.separator ?? '.';
  const fail = failure(options);
  const entries = flat instanceof Map || isIterable(flat) ? flat : Object.entries(flat);
  const root = {} as NestedDict<T>;
  // Which flat key made each leaf, to name both keys of a conflict.
  const leafKeys = new WeakMap<object, Map<string, string>>();
  for (const [key, value] of entries as Iterable<[string, T]>) {
    const parts = splitKey(key, separator, fail);
    let node: NestedDict<T> = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const part = parts[i];
      if (!Object.hasOwn(node, part)) {
        define(node, part, {});
      } else if (isLeaf(node[part])) {
        const other = leafKeys.get(node)?.get(part) ?? parts.slice(0, i + 1).join(separator);
        fail(`key ${quoted(other)} is both a value and a prefix of ${quoted(key)}`);
      }
      node = node[part] as NestedDict<T>;
    }
    const last = parts[parts.length - 1];
    if (Object.hasOwn(node, last)) {
      if (isLeaf(node[last])) fail(`key ${quoted(key)} appears twice`);
      fail(`key ${quoted(key)} is both a value and a prefix of ${quoted(firstLeafKey(node[last] as NestedDict<T>, key, separator))}`);
    }
    define(node, last, value);
    if (!leafKeys.has(node)) leafKeys.set(node, new Map());
    leafKeys.get(node)!.set(last, key);
  }
  return root;
}

/** Flattens a nested dictionary to dotted keys, in the objects' key order. */
export function flatten<T>(nested: NestedDict<T>, options: NestedOptions = {}): Map<string, T> {
  const separator = options.separator ?? '.';
  const fail = failure(options);
  const out = new Map<string, T>();
  const onPath = new Set<object>();
  const walk = (node: NestedDict<T>, prefix: string): void => {
    if (onPath.has(node)) fail(`${quoted(prefix)} contains itself`);
    onPath.add(node);
    for (const [part, value] of Object.entries(node)) {
      if (part === '' || part.includes(separator)) fail(`key ${quoted(part)} under ${quoted(prefix)} is empty or contains the separator ${quoted(separator)}`);
      const key = prefix ? `${prefix}${separator}${part}` : part;
      if (isLeaf(value)) out.set(key, value as T);
      else walk(value as NestedDict<T>, key);
    }
    onPath.delete(node);
  };
  walk(nested, '');
  return out;
}

/** The value at a path (a dotted key or its segments); undefined when absent. */
export function getPath<T>(nested: NestedDict<T>, path: string | readonly string[], options: NestedOptions = {}): T | NestedDict<T> | undefined {
  const parts = typeof path === 'string' ? splitKey(path, options.separator ?? '.', failure(options)) : path;
  let node: T | NestedDict<T> = nested;
  for (const part of parts) {
    if (isLeaf(node) || !Object.hasOwn(node as object, part)) return undefined;
    node = (node as NestedDict<T>)[part];
  }
  return node;
}

/** Sets the value at a path, creating branches as needed; refuses to turn a leaf into a branch. */
export function setPath<T>(nested: NestedDict<T>, path: string | readonly string[], value: T | NestedDict<T>, options: NestedOptions = {}): void {
  const separator = options.separator ?? '.';
  const fail = failure(options);
  const parts = typeof path === 'string' ? splitKey(path, separator, fail) : [...path];
  if (parts.length === 0) fail('cannot set an empty path');
  let node = nested;
  for (let i = 0; i < parts.length - 1; i++) {
    if (!Object.hasOwn(node, parts[i])) define(node, parts[i], {});
    else if (isLeaf(node[parts[i]])) fail(`${quoted(parts.slice(0, i + 1).join(separator))} is a value, not a dictionary`);
    node = node[parts[i]] as NestedDict<T>;
  }
  define(node, parts[parts.length - 1], value);
}

/** True for values that end a path: anything but a plain object, and Tensor-like objects. */
export function isLeaf(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || isTensor(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto !== Object.prototype && proto !== null;
}

function splitKey(key: string, separator: string, fail: (fault: string) => never): string[] {
  const parts = key.split(separator);
  if (parts.some((part) => part === '')) fail(`key ${quoted(key)} has an empty segment`);
  return parts;
}

// Own data properties even for names like "__proto__", so no key can reach a prototype.
function define(node: object, key: string, value: unknown): void {
  Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
}

function firstLeafKey<T>(node: NestedDict<T>, prefix: string, separator: string): string {
  const first = flatten(node, { separator }).keys().next();
  return first.done ? prefix : `${prefix}${separator}${first.value}`;
}

function isIterable(value: unknown): value is Iterable<unknown> {
  return typeof (value as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] === 'function';
}

function failure(options: NestedOptions): (fault: string) => never {
  return (fault) => { throw new InputError(options.source ?? 'nested dictionary', fault); };
}
