// Training end to end on tiny models and a small synthetic dataset: a tiny model
// overfits a tiny batch, the same seed gives bit-identical weights, Ctrl-C leaves the
// last checkpoint whole and a resumed run ends where the uninterrupted one does, and
// bad recipes and bad data are InputErrors naming the key or the file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SchemaNode } from '../lib/config/schema-kit.ts';
import { defaultsOf } from '../lib/config/validate.ts';
import { openDataset } from '../lib/data/dataset.ts';
import { InputError, isAbortError } from '../lib/errors.ts';
import { readSafetensors } from '../lib/io/safetensors.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { parseVitConfig } from '../lib/models/vit.ts';
import { parseTrainConfig, trainSchema } from '../lib/train/config.ts';
import { recipeSection, TRAIN_DEFAULTS, type Recipe } from '../lib/train/recipe.ts';
import { trainFromConfig } from '../lib/train/run-config.ts';
import { finetune, train } from '../lib/train/train.ts';
import { initVitTensors } from '../lib/train/init.ts';
import { randomImages, type RefConfig } from './helpers/vit-reference.ts';
import { writeSyntheticIdx } from './helpers/synthetic-idx.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

const tiny: RefConfig = {
  image_size: 8, patch_size: 4, num_channels: 1, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 32, num_labels: 3, layer_norm_eps: 1e-12, qkv_bias: true,
};
const config = parseVitConfig({ ...tiny });

function recipe(changes: Partial<Recipe> = {}): Recipe {
  return { ...defaultsOf(recipeSection('', TRAIN_DEFAULTS)), ...changes };
}

function sameBits(a: Map<string, Tensor>, b: Map<string, Tensor>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u) return false;
    const x = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const y = new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength);
    if (x.length !== y.length || !x.every((v, i) => v === y[i])) return false;
  }
  return true;
}

/** A train config for the synthetic dataset in `data`, writing to `out`. */
function configText(data: string, out: string, extra = ''): string {
  return [
    'model:', '  image_size: 8', '  patch_size: 4', '  hidden_size: 16', '  num_hidden_layers: 2', '  num_attention_heads: 2',
    '  intermediate_size: 32',
    'data:', `  folder: ${data}`, '  mean: [0.3]', '  std: [0.3]',
    'training:', '  epochs: 3', '  batch_size: 16', '  learning_rate: 3.0e-3', '  label_smoothing: 0.1',
    '  augment:', '    crop_padding: 1', '    horizontal_flip: true',
    'output:', `  folder: ${out}`,
    'runtime:', '  threads: 2',
    extra,
  ].join('\n');
}

describe('training', function () {
  this.timeout(60000);
  let dir: string;
  let data: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'otfuse-train-'));
    data = join(dir, 'data');
    writeSyntheticIdx(data, { train: 120, test: 30 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a tiny model overfits a tiny batch: the loss goes to about 0', async () => {
    const count = 8;
    const images = randomImages(tiny, count, 3);
    const labels = Int32Array.from({ length: count }, (_, i) => i % 3);
    const batch = { images, labels, count };
    const result = await train({
      config, recipe: recipe({ max_steps: 150, batch_size: count, learning_rate: 5e-3, lr_schedule: 'constant', warmup_ratio: 0, weight_decay: 0, max_grad_norm: 0 }),
      train: batch, test: batch,
    });
    const last = result.curve[result.curve.length - 1];
    assert.equal(last.testAccuracy, 1);
    assert.ok(last.testLoss! < 0.01, `final loss ${last.testLoss}`);
    assert.ok(result.curve[0].trainLoss > 0.5);
  });

  it('the same seed and threads give bit-identical weights (with augmentation and micro-batches); another seed does not', async () => {
    const pre = { imageSize: 8, channels: 1, mean: [0.3], std: [0.3] };
    const trainSet = await (await openDataset(data, { split: 'train', preprocess: pre })).loadAll();
    const r = recipe({ epochs: 2, batch_size: 16, micro_batch: 5, label_smoothing: 0.1, augment: { crop_padding: 1, horizontal_flip: true } });
    const run = (seed: number) => train({ config, recipe: { ...r, seed }, train: trainSet, fill: [-1] });
    const a = await run(4), b = await run(4), c = await run(5);
    assert.ok(sameBits(a.tensors, b.tensors), 'two runs with seed 4 differ');
    assert.ok(!sameBits(a.tensors, c.tensors), 'seeds 4 and 5 gave the same weights');
    assert.deepEqual(a.curve.map((p) => p.trainLoss), b.curve.map((p) => p.trainLoss));
  });

  it('finetune: an in-memory model in, trained tensors and a per-N-steps accuracy curve out, the input untouched', async () => {
    const pre = { imageSize: 8, channels: 1, mean: [0.3], std: [0.3] };
    const trainSet = await (await openDataset(data, { split: 'train', preprocess: pre })).loadAll();
    const testSet = await (await openDataset(data, { split: 'test', preprocess: pre })).loadAll();
    const tensors = initVitTensors(config, 9);
    const before = new Map([...tensors].map(([k, t]) => [k, Float32Array.from(t.data as Float32Array)]));
    const result = await finetune({ config, tensors }, {
      recipe: recipe({ max_steps: 6, eval_steps: 2, batch_size: 32, learning_rate: 3e-3 }), train: trainSet, test: testSet,
    });
    assert.deepEqual(result.curve.map((p) => p.step), [2, 4, 6]);
    assert.ok(result.curve.every((p) => p.testAccuracy !== null && p.testLoss !== null));
    assert.equal(result.finalTestAccuracy, result.curve[2].testAccuracy);
    assert.deepEqual([...result.tensors.keys()], [...tensors.keys()]);
    for (const [k, t] of tensors) assert.deepEqual(t.data, before.get(k), `${k} was modified`);
    assert.ok(!sameBits(result.tensors, tensors));
  });

  it('Ctrl-C leaves the last checkpoint whole, and --resume ends with the uninterrupted run\'s weights', async () => {
    const whole = join(dir, 'whole'), cut = join(dir, 'cut'), file = join(dir, 'train.yaml');
    writeFileSync(file, configText(data, whole));
    const full = await trainFromConfig(parseTrainConfig(readFileSync(file, 'utf8'), file), { file });
    assert.equal(full.steps, 21);
    assert.equal(full.curve.length, 3);
    assert.ok(!existsSync(join(whole, 'training_state')), 'the final folder keeps no optimiser state');
    assert.ok(full.finalTestAccuracy! > 0.6, `accuracy ${full.finalTestAccuracy}`);

    // Interrupted in the middle of epoch 2: the folder holds the epoch-1 checkpoint.
    writeFileSync(file, configText(data, cut));
    const controller = new AbortController();
    await assert.rejects(trainFromConfig(parseTrainConfig(readFileSync(file, 'utf8'), file), {
      file, signal: controller.signal, onStep: (p) => { if (p.step === 10) controller.abort(); },
    }), (e: unknown) => isAbortError(e));
    const state = JSON.parse(readFileSync(join(cut, 'training_state', 'state.json'), 'utf8'));
    assert.equal(state.step, 7);
    assert.equal(state.rng.seed, 0);
    assert.ok(existsSync(join(cut, 'training_state', 'optimizer.safetensors')));

    // A changed recipe is refused, naming the key; the same one resumes exactly.
    const changed = parseTrainConfig(readFileSync(file, 'utf8'), file, ['training.learning_rate=0.002']);
    await assert.rejects(trainFromConfig(changed, { file, resume: true }),
      (e: unknown) => e instanceof InputError && /training\.learning_rate: 0\.003 in the checkpoint, 0\.002 now/.test(e.message));
    const resumed = await trainFromConfig(parseTrainConfig(readFileSync(file, 'utf8'), file), { file, resume: true });
    assert.equal(resumed.resumedFrom, 7);
    assert.equal(resumed.steps, 21);
    const a = (await readSafetensors(join(whole, 'model.safetensors'))).tensors;
    const b = (await readSafetensors(join(cut, 'model.safetensors'))).tensors;
    assert.ok(sameBits(a, b), 'the resumed run differs from the uninterrupted one');
    assert.deepEqual(resumed.curve.map((p) => p.testAccuracy), full.curve.map((p) => p.testAccuracy));
  });

  it('bad recipes are InputErrors naming the key', () => {
    const ok = configText(data, join(dir, 'x'));
    const rejects = (text: string, pattern: RegExp, overrides: string[] = []) =>
      assert.throws(() => parseTrainConfig(text, 't.yaml', overrides), (e: unknown) => e instanceof InputError && pattern.test(e.message));
    rejects(ok, /t\.yaml: training\.learnig_rate: unknown key; did you mean 'learning_rate'\?/, ['training.learnig_rate=1']);
    rejects(ok, /training\.batch_size: must be >= 1, got 0/, ['training.batch_size=0']);
    rejects(ok, /training\.lr_schedule: expected one of cosine, linear, constant, got 'cosin'/, ['training.lr_schedule=cosin']);
    rejects(ok, /model\.patch_size: 3 does not divide model\.image_size 8/, ['model.patch_size=3']);
    rejects(ok, /model\.num_attention_heads: 3 does not divide model\.hidden_size 16/, ['model.num_attention_heads=3']);
    rejects(ok, /training\.label_smoothing: must be <= 0\.999/, ['training.label_smoothing=1']);
    rejects(ok, /data\.mean: 2 values for 1 channels/, ['data.mean=[0.1, 0.2]', 'data.std=[0.1, 0.2]']);
    rejects('model:\n  image_size: 8\n', /data\.folder: missing/);
  });

  it('bad data is an InputError naming the folder or key', async () => {
    const file = join(dir, 'bad.yaml');
    const run = (overrides: string[]) => trainFromConfig(parseTrainConfig(configText(data, join(dir, 'bad-out')), file, overrides), { file });
    await assert.rejects(run(['model.image_size=12', 'model.patch_size=4']), (e: unknown) => e instanceof InputError && /images are 8x8, the model expects 12x12/.test(e.message) && e.message.includes(data));
    await assert.rejects(run(['model.num_labels=2']), (e: unknown) => e instanceof InputError && /model\.num_labels: 2, but .* has 3 classes/.test(e.message));
    await assert.rejects(run([`data.folder=${join(dir, 'nope')}`]), (e: unknown) => e instanceof InputError && /nope: is not a folder/.test(e.message));
    await assert.rejects(run(['training.warmup_steps=500']), (e: unknown) => e instanceof InputError && /^training\.warmup_steps: 500 warmup steps is more than the run's 21 steps/.test(e.message));
    // Known from the recipe alone: refused when it is read.
    assert.throws(() => parseTrainConfig(configText(data, join(dir, 'bad-out')), file, ['training.max_steps=3', 'training.warmup_steps=4']),
      (e: unknown) => e instanceof InputError && /bad\.yaml: training\.warmup_steps: 4 warmup steps is more than training\.max_steps 3$/.test(e.message));
    const exists = join(dir, 'exists');
    await trainFromConfig(parseTrainConfig(configText(data, exists), file, ['training.max_steps=1']), { file });
    await assert.rejects(trainFromConfig(parseTrainConfig(configText(data, exists), file), { file }),
      (e: unknown) => e instanceof InputError && /output folder already exists; pass --force/.test(e.message));
  });

  it('otfuse train and otfuse finetune from the command line', () => {
    const file = join(dir, 'cli.yaml'), out = join(dir, 'cli-out'), ft = join(dir, 'cli-ft');
    writeFileSync(file, configText(data, out));
    const run = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'otfuse.js'), ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    const t = run('train', file, '--set', 'training.epochs=1', '--json');
    assert.equal(t.status, 0, t.stderr);
    const report = JSON.parse(t.stdout);
    assert.equal(report.steps, 7);
    assert.equal(report.curve.length, 1);
    for (const f of ['config.json', 'model.safetensors', 'preprocessor_config.json', 'training.json']) assert.ok(existsSync(join(out, f)), f);
    const f = run('finetune', out, '--data', data, '--output', ft, '--steps', '4', '--eval-steps', '2', '--lr', '1e-3', '--json');
    assert.equal(f.status, 0, f.stderr);
    const ftReport = JSON.parse(f.stdout);
    assert.equal(ftReport.steps, 4);
    assert.deepEqual(ftReport.curve.map((p: { step: number }) => p.step), [2, 4]);
    assert.equal(typeof ftReport.initialTestAccuracy, 'number');
    const bad = run('train', file, '--set', 'training.batch_size=0');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr.trim(), /^otfuse: .*cli\.yaml: training\.batch_size: must be >= 1, got 0$/);
    const badFt = run('finetune', out, '--data', data, '--output', ft, '--schedule', 'cosin');
    assert.equal(badFt.status, 2);
    assert.match(badFt.stderr, /--schedule: expected one of cosine, linear, constant/);
  });

  it('documents every config key in docs/train.md', () => {
    const docs = readFileSync(join(root, 'docs', 'train.md'), 'utf8');
    const keys: string[] = [];
    const walk = (node: SchemaNode, path: string) => {
      if (node.kind !== 'section') return void keys.push(path);
      for (const [k, child] of Object.entries(node.fields)) walk(child, path ? `${path}.${k}` : k);
    };
    walk(trainSchema, '');
    const missing = keys.filter((k) => !docs.includes(`\`${k}\``));
    assert.deepEqual(missing, [], `keys missing from docs/train.md: ${missing.join(', ')}`);
  });
});
