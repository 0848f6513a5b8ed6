/**
 * Reads an experiment config: YAML (YAML 1.1, as PyYAML reads the reference's files, so
 * `True`, `yes` and `1e-2` mean what they meant there), `--set key=value` overrides, then
 * validation against the schema and the cross-key checks the schema cannot express.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse, parseDocument } from 'yaml';
import { InputError } from '../errors.ts';
import { experimentSchema, type ExperimentConfig } from './experiment.ts';
import type { Infer, SectionNode } from './schema-kit.ts';
import { validateConfig } from './validate.ts';
import { checkRecipe, finetuneKey } from '../train/recipe.ts';

/** A config file's text, or an InputError saying why it cannot be read. */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(file, `cannot read the config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** YAML 1.1 text -> plain data; syntax errors are InputErrors naming the file and line. */
export function parseYaml(text: string, file: string): unknown {
  // logLevel error: what the parser only warns about (an unknown tag) is left for the validation to name.
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    // The parser's first message line already says where: "... at line 4, column 1:".
    throw new InputError(file, `not valid YAML: ${doc.errors[0].message.split('\n')[0].replace(/:$/, '')}`);
  }
  return doc.toJS();
}

/** Applies `a.b.c=value` overrides; the value is read as a YAML scalar or flow collection. */
export function applyOverrides(doc: unknown, overrides: string[]): unknown {
  // A document that is not a mapping is left for the validation to name ("(top level): expected a mapping").
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) return doc;
  const root = (doc ?? {}) as Record<string, unknown>;
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new InputError(`--set ${o}`, 'expected key=value, e.g. fusion.ot_solver=sinkhorn');
    const path = o.slice(0, eq).split('.');
    if (path.some((p) => p.length === 0)) throw new InputError(`--set ${o}`, 'empty key segment');
    // Plain objects answer to these names through their prototype: never config keys.
    const bad = path.find((p) => p === '__proto__' || p === 'constructor' || p === 'prototype');
    if (bad) throw new InputError(`--set ${o}`, `'${bad}' is not a config key`);
    let value: unknown;
    try {
      value = parse(o.slice(eq + 1), { version: '1.1', logLevel: 'error' });
    } catch {
      throw new InputError(`--set ${o}`, 'the value is not valid YAML');
    }
    let node = root;
    for (const key of path.slice(0, -1)) {
      if (!Object.hasOwn(node, key) || node[key] === undefined || node[key] === null) node[key] = {};
      if (typeof node[key] !== 'object' || Array.isArray(node[key])) throw new InputError(`--set ${o}`, `${key} is not a mapping`);
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]] = value;
  }
  return root;
}

/** Cross-key rules: the model names num_models asks for exist, the anchor is one of them, weights fit, the finetune recipe can run. */
export function checkConsistency(cfg: ExperimentConfig, file: string): void {
  // Name by name up to the first missing one: a huge num_models costs nothing.
  const names: string[] = [];
  for (let i = 0; i < cfg.fusion.num_models; i++) {
    const n = `name_${i}`;
    if (!cfg.model.extraKeys[n]) throw new InputError(file, `model.${n}: missing (fusion.num_models is ${cfg.fusion.num_models})`);
    names.push(n);
  }
  for (const n of Object.keys(cfg.model.extraKeys)) {
    if (!names.includes(n)) throw new InputError(file, `model.${n}: fusion.num_models is ${cfg.fusion.num_models}, so only ${names.join(', ')} are fused`);
  }
  if (!names.includes(cfg.fusion.anchor)) throw new InputError(file, `fusion.anchor: expected one of ${names.join(', ')}, got '${cfg.fusion.anchor}'`);
  // Known from the config alone, so said before any work (the finetune stage comes last).
  if (cfg.model.type === 'hf_bert') {
    if (cfg.finetune.augment.crop_padding > 0) throw new InputError(file, 'finetune.augment.crop_padding: crops images; a BERT experiment finetunes on text, which has no image augmentation');
    if (cfg.finetune.augment.horizontal_flip) throw new InputError(file, 'finetune.augment.horizontal_flip: flips images; a BERT experiment finetunes on text, which has no image augmentation');
  }
  checkRecipe(cfg.finetune, finetuneKey, file);
  const w = cfg.fusion.weights;
  if (w) {
    if (w.length !== cfg.fusion.num_models) throw new InputError(file, `fusion.weights: expected ${cfg.fusion.num_models} weights, got ${w.length}`);
    if (w.some((x) => x < 0) || w.reduce((a, b) => a + b, 0) <= 0) throw new InputError(file, 'fusion.weights: weights must be >= 0 with a positive sum');
  }
}

/**
 * Paths written in a config file are relative to the file's folder (so a config and the
 * models beside it can move together); paths given with --set stay relative to the
 * working directory.
 */
function resolvePaths(doc: unknown, base: string): unknown {
  if (!doc || typeof doc !== 'object') return doc;
  const d = doc as Record<string, Record<string, unknown> | undefined>;
  const fix = (obj: Record<string, unknown> | undefined, key: string) => {
    const v = obj?.[key];
    if (obj && typeof v === 'string' && v.length > 0 && !isAbsolute(v)) obj[key] = resolve(base, v);
  };
  for (const key of Object.keys(d.model ?? {})) if (/^name_\d+$/.test(key)) fix(d.model, key);
  fix(d.data, 'folder');
  fix(d.data?.activations as Record<string, unknown> | undefined, 'folder');
  fix(d.output, 'folder');
  return doc;
}

/**
 * A recipe document (YAML text, then `--set` overrides) validated against `schema`, then
 * its cross-field `check`: how the training recipes (lib/train/config.ts,
 * bert-config.ts) are parsed.
 */
export function parseRecipeText<S extends SectionNode>(
  schema: S, text: string, file: string, overrides: string[], check: (cfg: Infer<S>, file: string) => void,
): Infer<S> {
  const cfg = validateConfig(schema, applyOverrides(parseYaml(text, file), overrides), file);
  check(cfg, file);
  return cfg;
}

/** Parses and validates experiment config text; `file` names it in errors. */
export function parseExperimentConfig(text: string, file: string, overrides: string[] = []): ExperimentConfig {
  return experimentFromDocument(resolvePaths(parseYaml(text, file), dirname(resolve(file))), file, overrides);
}

/**
 * An experiment config from plain data (a parsed file, or one a command builds from its
 * arguments), `--set` overrides applied; `source` names it in errors.
 */
export function experimentFromDocument(doc: unknown, source: string, overrides: string[] = []): ExperimentConfig {
  const cfg = validateConfig(experimentSchema, applyOverrides(doc, overrides), source);
  checkConsistency(cfg, source);
  return cfg;
}

export function loadExperimentConfig(file: string, overrides: string[] = []): ExperimentConfig {
  return parseExperimentConfig(readConfigFile(file), file, overrides);
}
