/**
 * Checks a parsed YAML document against a schema and fills in defaults. Every fault is
 * an InputError naming the file and the dotted key, with a suggestion for misspelt keys
 * and values.
 */
import { InputError } from '../errors.ts';
import type { Infer, SchemaNode, SectionNode } from './schema-kit.ts';
import { didYouMean } from './suggest.ts';

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function checkLeaf(node: Exclude<SchemaNode, SectionNode>, value: unknown, fail: (fault: string) => never): unknown {
  switch (node.kind) {
    case 'bool':
      if (typeof value !== 'boolean') fail(`expected true or false, got ${describe(value)}`);
      return value;
    case 'number': {
      if (value === null && node.nullable) return null;
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(`expected a${node.int ? 'n integer' : ' number'}, got ${describe(value)}`);
      const n = value as number;
      if (node.int && !Number.isInteger(n)) fail(`expected an integer, got ${n}`);
      if (node.min !== undefined && n < node.min) fail(`must be >= ${node.min}, got ${n}`);
      if (node.max !== undefined && n > node.max) fail(`must be <= ${node.max}, got ${n}`);
      return n;
    }
    case 'string':
      if (value === null && node.nullable) return null;
      if (typeof value !== 'string' || value.length === 0) fail(`expected a non-empty string, got ${describe(value)}`);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !node.values.includes(value)) {
        fail(`expected one of ${node.values.join(', ')}, got ${describe(value)}${typeof value === 'string' ? didYouMean(value, node.values) : ''}`);
      }
      return value;
    case 'numbers':
      if (value === null) return null;
      if (!Array.isArray(value) || value.some((x) => typeof x !== 'number' || !Number.isFinite(x))) fail(`expected a list of numbers, got ${describe(value)}`);
      return value;
    case 'custom':
      try {
        return node.parse(value);
      } catch (err) {
        return fail(typeof err === 'string' ? err : `expected ${node.typeName}, got ${describe(value)}`);
      }
  }
}

function acceptsNull(node: SchemaNode): boolean {
  return node.kind === 'custom' || node.kind === 'numbers' || ('nullable' in node && node.nullable === true);
}

function checkSection(node: SectionNode, value: unknown, path: string, file: string): Record<string, unknown> {
  const fail = (key: string, fault: string): never => {
    throw new InputError(file, `${key}: ${fault}`);
  };
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) fail(path || '(top level)', `expected a mapping, got ${describe(value)}`);
  const given = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const known = [...Object.keys(node.fields), ...Object.keys(node.ignoredKeys ?? {})];
  for (const key of Object.keys(given)) {
    const keyPath = path ? `${path}.${key}` : key;
    // Own keys only: `constructor` or `__proto__` must not pass as a field through the prototype.
    if (Object.hasOwn(node.fields, key) || (node.ignoredKeys && Object.hasOwn(node.ignoredKeys, key))) continue;
    if (node.patternKeys?.pattern.test(key)) continue;
    const extra = node.patternKeys ? ` (or ${node.patternKeys.describe})` : '';
    fail(keyPath, `unknown key${didYouMean(key, known) || `; expected one of ${known.join(', ')}${extra}`}`);
  }
  for (const [key, child] of Object.entries(node.fields)) {
    const keyPath = path ? `${path}.${key}` : key;
    const v = Object.hasOwn(given, key) ? given[key] : undefined;
    if (child.kind === 'section') {
      out[key] = checkSection(child, v, keyPath, file);
    } else if (v === undefined || (v === null && !acceptsNull(child))) {
      out[key] = structuredClone(child.default); // an empty YAML value means "the default"
    } else {
      out[key] = checkLeaf(child, v, (fault) => fail(keyPath, fault));
    }
  }
  if (node.patternKeys) {
    const extraKeys: Record<string, string> = {};
    for (const key of Object.keys(given)) {
      if (!node.patternKeys.pattern.test(key)) continue;
      const v = given[key];
      if (typeof v !== 'string' || v.length === 0) fail(path ? `${path}.${key}` : key, `expected a path, got ${describe(v)}`);
      extraKeys[key] = v as string;
    }
    out.extraKeys = extraKeys;
  }
  return out;
}

/** Validates `doc` (parsed YAML) against `schema`; `file` names the source in errors. */
export function validateConfig<S extends SectionNode>(schema: S, doc: unknown, file: string): Infer<S> {
  return checkSection(schema, doc, '', file) as Infer<S>;
}

/** The config a schema describes when every key takes its default. */
export function defaultsOf<S extends SectionNode>(schema: S): Infer<S> {
  return checkSection(schema, {}, '', '(defaults)') as Infer<S>;
}
