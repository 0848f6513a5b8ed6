// Experiment configs: the reference's example loads unchanged, defaults fill in, and
// every kind of mistake is one InputError naming the file and the key.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { experimentSchema } from '../lib/config/experiment.ts';
import { loadExperimentConfig, parseExperimentConfig } from '../lib/config/load.ts';
import type { SchemaNode } from '../lib/config/schema-kit.ts';
import { InputError } from '../lib/errors.ts';

const fixture = fileURLToPath(new URL('./fixtures/configs/reference-example.yaml', import.meta.url));
const minimal = 'model:\n  name_0: a\n  name_1: b\n';

function rejects(text: string, pattern: RegExp, overrides: string[] = []): void {
  assert.throws(() => parseExperimentConfig(text, 'exp.yaml', overrides), (err: unknown) => {
    assert.ok(err instanceof InputError, `expected an InputError, got ${String(err)}`);
    assert.match(err.message, /^exp\.yaml: |^--set /);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('experiment config', () => {
  it("loads the reference's example experiment unchanged", () => {
    const cfg = loadExperimentConfig(fixture);
    // Paths in a config file are relative to its folder.
    const dir = dirname(fixture);
    assert.deepEqual(cfg.model.extraKeys, { name_0: join(dir, 'models/cifar10_model'), name_1: join(dir, 'models/cifar10_anchor') });
    assert.equal(cfg.fusion.type, 'acts');
    assert.equal(cfg.fusion.resid_policy, 'mean');
    assert.equal(cfg.fusion.ot_solver, 'sinkhorn');
    assert.equal(cfg.fusion.sinkhorn_reg, 0.08);
    assert.deepEqual(cfg.fusion.acts.seq_filter, { kind: 'window', size: 6 });
    assert.equal(cfg.fusion.acts.loss_thres, false);
    assert.equal(cfg.fusion.gnd_metric.norm, 'max');
    assert.equal(cfg.fusion.gnd_metric.clip_min, 5);
    assert.equal(cfg.fusion.wts.norm, true);
    assert.equal(cfg.regression.only_eval_ot, false);
    assert.equal(cfg.fusion.anchor, 'name_1');
  });

  it('fills defaults and reads YAML 1.1 scalars as PyYAML does', () => {
    const cfg = parseExperimentConfig(`${minimal}fusion:\n  sinkhorn_reg: 1e-2\n  fuse_bias: no\n`, 'exp.yaml');
    assert.equal(cfg.fusion.sinkhorn_reg, 0.01);
    assert.equal(cfg.fusion.fuse_bias, false);
    assert.equal(cfg.fusion.ot_solver, 'emd');
    assert.equal(cfg.fusion.qk_fusion, 'separate');
    assert.equal(cfg.fusion.acts.num_samples, 200);
    assert.equal(cfg.fusion.acts.seq_filter, null);
    assert.equal(cfg.runtime.device, 'auto');
    assert.equal(cfg.runtime.solve_ahead, 'auto');
  });

  it('names prototype keys as unknown: constructor, __proto__ and toString are never config keys', () => {
    rejects(`${minimal}constructor: 1\n`, /constructor: unknown key/);
    rejects(`${minimal}__proto__:\n  force: true\n`, /__proto__: unknown key/);
    rejects(`${minimal}fusion:\n  hasOwnProperty: 3\n`, /fusion\.hasOwnProperty: unknown key/);
    rejects(minimal, /'__proto__' is not a config key/, ['__proto__.force=true']);
    rejects(minimal, /'constructor' is not a config key/, ['fusion.constructor.x=1']);
    assert.equal(({} as Record<string, unknown>).force, undefined, 'nothing leaked into Object.prototype');
    // A document that is not a mapping is named as such, overrides or not.
    rejects('hello\n', /\(top level\): expected a mapping, got 'hello'/, ['a.b=1']);
  });

  it('runtime.solve_ahead: auto, or a boolean in any YAML spelling', () => {
    assert.equal(parseExperimentConfig(`${minimal}runtime:\n  solve_ahead: off\n`, 'exp.yaml').runtime.solve_ahead, false);
    assert.equal(parseExperimentConfig(minimal, 'exp.yaml', ['runtime.solve_ahead=true']).runtime.solve_ahead, true);
    rejects(`${minimal}runtime:\n  solve_ahead: sometimes\n`, /runtime\.solve_ahead: expected auto, true or false, got 'sometimes'/);
  });

  it('keeps --set paths relative to the working directory and absolute paths as they are', () => {
    const cfg = parseExperimentConfig('model:\n  name_0: /abs/a\n  name_1: rel/b\n', '/configs/exp.yaml', ['output.folder=out']);
    assert.deepEqual(cfg.model.extraKeys, { name_0: '/abs/a', name_1: '/configs/rel/b' });
    assert.equal(cfg.output.folder, 'out');
  });

  it('applies --set overrides with YAML values', () => {
    const cfg = parseExperimentConfig(minimal, 'exp.yaml', ['fusion.ot_solver=sinkhorn', 'fusion.acts.num_samples=50', 'fusion.acts.seq_filter=only_cls', 'fusion.weights=[1, 3]']);
    assert.equal(cfg.fusion.ot_solver, 'sinkhorn');
    assert.equal(cfg.fusion.acts.num_samples, 50);
    assert.deepEqual(cfg.fusion.acts.seq_filter, { kind: 'only_cls' });
    assert.deepEqual(cfg.fusion.weights, [1, 3]);
  });

  it('names the key and suggests the nearest valid one for typos', () => {
    rejects(`${minimal}fusion:\n  gnd_metric:\n    tpye: cosine\n`, /fusion\.gnd_metric\.tpye: unknown key; did you mean 'type'\?/);
    rejects(`${minimal}fusoin:\n  type: acts\n`, /fusoin: unknown key; did you mean 'fusion'\?/);
    rejects(`${minimal}fusion:\n  ot_solver: sinkorn\n`, /fusion\.ot_solver: expected one of emd, sinkhorn, sinkhorn_for_widening, got 'sinkorn'; did you mean 'sinkhorn'\?/);
    rejects(`${minimal}fusion:\n  acts:\n    seq_filter: window_x\n`, /fusion\.acts\.seq_filter: expected null, only_cls or window_<k>/);
  });

  it('rejects wrong types and out-of-range values, naming the key', () => {
    rejects(`${minimal}fusion:\n  acts:\n    num_samples: many\n`, /fusion\.acts\.num_samples: expected an integer, got 'many'/);
    rejects(`${minimal}fusion:\n  acts:\n    num_samples: 0\n`, /fusion\.acts\.num_samples: must be >= 1/);
    rejects(`${minimal}fusion:\n  acts:\n    num_samples: 2.5\n`, /num_samples: expected an integer, got 2\.5/);
    rejects(`${minimal}fusion:\n  fuse_sa: maybe\n`, /fusion\.fuse_sa: expected true or false, got 'maybe'/);
    rejects(`${minimal}fusion:\n  acts: 3\n`, /fusion\.acts: expected a mapping, got 3/);
    rejects(`${minimal}fusion:\n  acts:\n    loss_thres: -1\n`, /fusion\.acts\.loss_thres: expected false or a positive number/);
    rejects(`${minimal}fusion:\n  weights: [1, x]\n`, /fusion\.weights: expected a list of numbers/);
  });

  it('checks the keys against each other', () => {
    rejects('model:\n  name_0: a\n', /model\.name_1: missing \(fusion\.num_models is 2\)/);
    rejects(`${minimal}  name_2: c\n`, /model\.name_2: fusion\.num_models is 2/);
    rejects(`${minimal}fusion:\n  anchor: name_7\n`, /fusion\.anchor: expected one of name_0, name_1/);
    rejects(`${minimal}fusion:\n  weights: [1]\n`, /fusion\.weights: expected 2 weights, got 1/);
    rejects(`${minimal}finetune:\n  max_steps: 3\n  warmup_steps: 4\n`, /finetune\.warmup_steps: 4 warmup steps is more than finetune\.max_steps 3/);
    // A huge count is refused at the first missing name, without building the list (found by fuzzing).
    rejects(`${minimal}fusion:\n  num_models: 2147483648\n`, /model\.name_2: missing \(fusion\.num_models is 2147483648\)/);
    rejects(`${minimal}model:\n  name_2: c\n`, /not valid YAML.*line 4/);
  });

  it('rejects malformed overrides, naming them', () => {
    rejects(minimal, /--set fusion: expected key=value/, ['fusion']);
    rejects(minimal, /--set fusion\.type\.x=1: type is not a mapping/, ['fusion.type=acts', 'fusion.type.x=1']);
  });

  it('names an unreadable file', () => {
    assert.throws(() => loadExperimentConfig('/nonexistent/exp.yaml'), /\/nonexistent\/exp\.yaml: cannot read the config \(ENOENT\)/);
  });

  it('documents every key in docs/config.md', () => {
    const docs = readFileSync(fileURLToPath(new URL('../docs/config.md', import.meta.url)), 'utf8');
    const keys: string[] = [];
    const walk = (node: SchemaNode, path: string) => {
      if (node.kind !== 'section') return void keys.push(path);
      for (const [k, child] of Object.entries(node.fields)) walk(child, path ? `${path}.${k}` : k);
      for (const k of Object.keys(node.ignoredKeys ?? {})) keys.push(path ? `${path}.${k}` : k);
    };
    walk(experimentSchema, '');
    const missing = keys.filter((k) => !docs.includes(`\`${k}\``));
    assert.deepEqual(missing, [], `keys missing from docs/config.md: ${missing.join(', ')}`);
  });
});
