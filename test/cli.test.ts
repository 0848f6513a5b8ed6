// The otfuse command as a user runs it: output, --json, and exit codes (2 with one line
// naming the fault for bad input).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEarlierDemo } from '../lib/cli/commands/demo.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => join(root, 'test', 'fixtures', name);

function otfuse(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'otfuse.js'), ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectInputError(result: ReturnType<typeof otfuse>, pattern: RegExp) {
  assert.equal(result.code, 2, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0], pattern);
}

describe('otfuse CLI', function () {
  this.timeout(240000);

  it('inspect prints a summary and a tensor table', () => {
    const r = otfuse('inspect', fixture('vit-tiny-bin'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Architecture +ViTForImageClassification/);
    assert.match(r.stdout, /Parameters +1,683 in 40 tensors/);
    assert.match(r.stdout, /vit\.encoder\.layer\.1\.output\.dense\.weight +F32 +8 x 16/);
  });

  it('inspect --json reads both checkpoint formats the same way', () => {
    const bin = JSON.parse(otfuse('inspect', fixture('vit-tiny-bin'), '--json').stdout);
    const st = JSON.parse(otfuse('inspect', fixture('vit-tiny-safetensors'), '--json').stdout);
    assert.equal(bin.format, 'pytorch');
    assert.equal(st.format, 'safetensors');
    assert.equal(bin.parameterCount, st.parameterCount);
    assert.deepEqual(bin.tensors.map((t: { name: string }) => t.name).sort(), st.tensors.map((t: { name: string }) => t.name).sort());
    const bert = JSON.parse(otfuse('inspect', fixture('bert-tiny-bin-sharded'), '--json').stdout);
    assert.equal(bert.sharded, true);
    assert.equal(bert.modelType, 'bert');
  });

  it('bad input: exit code 2 and one line naming the file and the fault', () => {
    expectInputError(otfuse('inspect', '/nonexistent/model'), /^otfuse: \/nonexistent\/model: model folder does not exist$/);
    const dir = mkdtempSync(join(tmpdir(), 'otfuse-cli-'));
    try {
      mkdirSync(join(dir, 'm'));
      writeFileSync(join(dir, 'm', 'config.json'), '{"model_type": "vit", "hidden_size": 8, ');
      writeFileSync(join(dir, 'm', 'model.safetensors'), Buffer.alloc(4));
      expectInputError(otfuse('inspect', join(dir, 'm')), /config\.json: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expectInputError(otfuse('inspect'), /^otfuse inspect: expected one model folder/);
    expectInputError(otfuse('inspect', 'a', '--frobnicate'), /^otfuse inspect: Unknown option '--frobnicate'/);
    expectInputError(otfuse('transmogrify'), /^otfuse: unknown command 'transmogrify'/);
  });

  it('eval reports accuracy and loss, and names what does not fit', () => {
    const r = otfuse('eval', fixture('vit-torch'), '--data', fixture('data/images'), '--resize', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.images, 3);
    assert.ok(report.accuracy >= 0 && report.accuracy <= 1);
    assert.ok(Number.isFinite(report.meanLoss) && report.meanLoss > 0);
    assert.match(report.dataset, /image-folder test split/);
    expectInputError(otfuse('eval', fixture('vit-torch'), '--data', fixture('data/images')), /a\.png: images are 8x8, the model expects 16x16/);
    expectInputError(otfuse('eval', fixture('vit-torch')), /^otfuse eval: needs --data/);
    expectInputError(otfuse('eval', fixture('vit-torch'), '--data', fixture('data/images'), '--split', 'dev'), /^otfuse: --split: expected test or train/);
    expectInputError(otfuse('eval', fixture('vit-tiny-bin'), '--data', fixture('data/cifar10'), '--resize'), /has 10 classes, more than the model's 3 labels/);
  });

  it('options are checked before any work: integers, the model kind they apply to, normalisation, outputs, config keys', () => {
    const vit = join(root, 'models', 'fashion-mnist', 'vit-a'), bert = join(root, 'models', 'fortunes', 'bert-a');
    const images = join(root, 'data', 'fashion-mnist'), text = join(root, 'data', 'fortunes-short');
    expectInputError(otfuse('eval', vit, '--data', images, '--limit', '1.5'), /^otfuse: --limit: expected an integer >= 1, got '1\.5'$/);
    expectInputError(otfuse('eval', bert, '--data', text, '--mask-seed', '1.5'), /^otfuse: --mask-seed: expected an integer/);
    expectInputError(otfuse('eval', vit, '--data', images, '--max-length', '8'), /^otfuse: --max-length: does not apply to an image model$/);
    expectInputError(otfuse('eval', bert, '--data', text, '--mean', '0.5'), /^otfuse: --mean: does not apply to a BERT/);
    expectInputError(otfuse('eval', vit, '--data', images, '--std', '0', '--mean', '0'), /^otfuse: --std: must be positive, got 0$/);
    expectInputError(otfuse('eval', vit, '--data', images, '--mean', '0.1,0.2,0.3', '--std', '1,1,1'), /^otfuse: --mean: has 3 values, the model has 1 channel/);
    expectInputError(otfuse('eval', vit, '--data', images, '--mean', '0.1'), /^otfuse: --std: give --mean and --std together$/);
    expectInputError(otfuse('finetune', bert, '--data', text, '--output', join(tmpdir(), 'never'), '--holdout', '0.5'), /^otfuse: --holdout: does not apply to a BERT/);
    expectInputError(otfuse('finetune', vit, '--data', images, '--output', join(tmpdir(), 'never'), '--pack'), /^otfuse: --pack: does not apply to an image model$/);
    expectInputError(otfuse('finetune', vit, '--data', images, '--output', '', '--force'), /^otfuse: --output: the output folder must be a non-empty path$/);
    expectInputError(otfuse('finetune', vit, '--data', images, '--output', join(vit, 'inside')), /is inside the input model folder/);
    // A dataset being read is never an output either, even with --force.
    expectInputError(otfuse('finetune', vit, '--data', images, '--output', images, '--force'), /refusing to write here: it would replace the input dataset/);
    expectInputError(otfuse('run', join(root, 'configs', 'demo.yaml'), '--output', join(root, 'data', 'fashion-mnist-fusion'), '--force'), /it would replace the input dataset .*fashion-mnist-fusion/);
    expectInputError(otfuse('build-vocab', text, '--size', '100', '--output', join(text, 'train.txt'), '--force'), /train\.txt: refusing to write here: it would replace the input file .*train\.txt/);
    expectInputError(otfuse('prepare-text', text, '--source', text, '--force'), /it would replace the input dataset/);
    expectInputError(otfuse('prepare-text', join(tmpdir(), 'never'), '--source', images), /t10k-images-idx3-ubyte\.gz: is not a text file \(it holds NUL bytes\)/);
    assert.ok(existsSync(join(text, 'train.txt')) && existsSync(join(text, 'test.txt')));
    expectInputError(otfuse('finetune', vit, '--data', images, '--output', join(tmpdir(), 'never'), '--epochs', '1', '--steps', '2'), /^otfuse: --steps: give --epochs or --steps, not both$/);
    expectInputError(otfuse('finetune', vit, '--data', images, '--output', join(tmpdir(), 'never'), '--steps', '2', '--warmup-steps', '5'),
      /^otfuse finetune: --warmup-steps: 5 warmup steps is more than --steps 2$/);
    expectInputError(otfuse('run', join(root, 'configs', 'demo.yaml'), '--set', 'finetune.max_steps=2', '--set', 'finetune.warmup_steps=5'),
      /demo\.yaml: finetune\.warmup_steps: 5 warmup steps is more than finetune\.max_steps 2$/);
    // The config or recipe being run, and a BERT recipe's vocabulary, are inputs too
    // (on copies: a failure here must not cost the repository its configs).
    const copies = mkdtempSync(join(tmpdir(), 'otfuse-inputs-'));
    try {
      mkdirSync(join(copies, 'configs'));
      writeFileSync(join(copies, 'configs', 'demo.yaml'), readFileSync(join(root, 'configs', 'demo.yaml'), 'utf8').replaceAll('../', `${root}/`));
      expectInputError(otfuse('run', join(copies, 'configs', 'demo.yaml'), '--output', join(copies, 'configs'), '--force'), /refusing to write here: it would replace the input file .*demo\.yaml/);
      writeFileSync(join(copies, 'configs', 'vit.yaml'), readFileSync(join(root, 'configs', 'train', 'fashion-mnist-vit-a.yaml'), 'utf8'));
      expectInputError(otfuse('train', join(copies, 'configs', 'vit.yaml'), '--output', join(copies, 'configs'), '--force'), /refusing to write here: it would replace the input file .*vit\.yaml/);
      assert.ok(existsSync(join(copies, 'configs', 'demo.yaml')) && existsSync(join(copies, 'configs', 'vit.yaml')));
    } finally {
      rmSync(copies, { recursive: true, force: true });
    }
    expectInputError(otfuse('prepare-text', '/proc/otfuse-test/corpus'), /cannot write here/);
    expectInputError(otfuse('run', join(root, 'configs', 'demo.yaml'), '--set', '__proto__.force=true'), /'__proto__' is not a config key/);
  });

  it('demo fuses the bundled parents from shipped data and writes its output (the README\'s main command)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otfuse-demo-'));
    try {
      const out = join(dir, 'demo');
      const r = spawnSync(process.execPath, [join(root, 'bin', 'otfuse.js'), 'demo', '--output', out], { encoding: 'utf8', cwd: dir, env: { ...process.env, CI: '1' } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /vanilla fusion .* \d+\.\d+%/);
      assert.match(r.stdout, /OT fusion \+ repair \(anchor\) .* \d+\.\d+%/);
      assert.match(r.stdout, /OT fusion \+ repair \+ finetune \(\d+ steps\)/);
      for (const f of ['ot', 'ot-repaired', 'vanilla', 'ot-finetuned', 'ot-repaired-finetuned', 'report.json']) assert.ok(existsSync(join(out, f)), f);
      // A folder that is not an earlier demo's output is never replaced.
      mkdirSync(join(dir, 'mine'));
      expectInputError(otfuse('demo', '--output', join(dir, 'mine')), /is not the output of an earlier demo/);
      // Nor one that merely holds a report.json, or holds more than an experiment writes.
      writeFileSync(join(dir, 'mine', 'report.json'), '{}');
      expectInputError(otfuse('demo', '--output', join(dir, 'mine')), /is not the output of an earlier demo/);
      assert.ok(isEarlierDemo(out), 'the demo\'s own output may be replaced by the next demo');
      writeFileSync(join(out, 'notes.txt'), 'mine');
      assert.ok(!isEarlierDemo(out), 'a demo output with a file of the user\'s in it is kept');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fuse fuses model folders without a config: what run gives for the same settings, N models, anchor, weights, errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otfuse-fuse-'));
    const model = (name: string) => join(root, 'models', 'fashion-mnist', name);
    const samples = join(root, 'data', 'fashion-mnist-fusion');
    try {
      const r = otfuse('fuse', model('vit-a'), model('vit-b'), '--fusion-data', samples, '--set', 'fusion.acts.num_samples=50', '--output', join(dir, 'two'), '--json');
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.deepEqual(report.parents.map((p: { folder: string }) => p.folder), [model('vit-a'), model('vit-b')]);
      assert.equal(report.anchor, 'name_1');
      assert.ok(report.maps.every((m: { maps: Array<{ solver: string }> }) => m.maps.every((x) => x.solver === 'sinkhorn')));
      for (const f of ['ot', 'ot-repaired', 'vanilla', 'report.json']) assert.ok(existsSync(join(dir, 'two', f)), f);
      // The same experiment written as a config file, run by `otfuse run`: the same fused model, byte for byte.
      writeFileSync(join(dir, 'same.yaml'), [
        'model:', `  name_0: ${model('vit-a')}`, `  name_1: ${model('vit-b')}`,
        'fusion:', '  type: acts', '  ot_solver: sinkhorn', '  sinkhorn_reg: 0.08', '  resid_policy: mean', '  acts:', '    num_samples: 50',
        'data:', '  activations:', `    folder: ${samples}`, '    holdout_fraction: 0',
      ].join('\n'));
      assert.equal(otfuse('run', join(dir, 'same.yaml'), '--output', join(dir, 'run')).code, 0);
      for (const f of ['ot', 'ot-repaired']) assert.ok(readFileSync(join(dir, 'two', f, 'model.safetensors')).equals(readFileSync(join(dir, 'run', f, 'model.safetensors'))), f);
      // Three models of two widths onto the first, weighted 1:1:2.
      const three = otfuse('fuse', model('vit-a'), model('vit-b'), model('vit-wide'), '--anchor', '0', '--weights', '1,1,2', '--fusion-data', samples, '--set', 'fusion.acts.num_samples=50', '--output', join(dir, 'three'), '--json');
      assert.equal(three.code, 0, three.stderr);
      const r3 = JSON.parse(three.stdout);
      assert.deepEqual([r3.anchor, r3.weights, r3.heterogeneous], ['name_0', [0.25, 0.25, 0.5], true]);
      assert.deepEqual(r3.maps.map((m: { model: string }) => m.model), ['name_1', 'name_2']);
      assert.ok(!existsSync(join(dir, 'three', 'vanilla')), 'no vanilla fusion across widths');
      // BERTs: the kind comes from config.json, and the sequence length from the models
      // (64 positions here; the config's default of 128 would be refused).
      const bert = join(root, 'models', 'fortunes', 'bert-a');
      const berts = otfuse('fuse', bert, join(root, 'models', 'fortunes', 'bert-b'), '--fusion-data', join(root, 'data', 'fortunes-short'), '--set', 'fusion.acts.num_samples=40', '--output', join(dir, 'berts'), '--json');
      assert.equal(berts.code, 0, berts.stderr);
      assert.equal(JSON.parse(berts.stdout).head, 'masked-lm');
      assert.ok(existsSync(join(dir, 'berts', 'ot', 'vocab.txt')), 'the fused BERT keeps its tokenizer');
      // Bad input: one line naming the fault, nothing written.
      expectInputError(otfuse('fuse', model('vit-a'), bert, '--output', join(dir, 'x')), /bert-a: is a BERT, .*vit-a is not: fuse models of one kind/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b')), /otfuse fuse: needs --output <folder>/);
      expectInputError(otfuse('fuse', model('vit-a'), '--output', join(dir, 'x')), /expected two or more model folders/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--anchor', '2', '--output', join(dir, 'x')), /--anchor: expected an integer from 0 to 1, got '2'/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--anchor', '1.5', '--output', join(dir, 'x')), /--anchor: expected an integer from 0 to 1, got '1\.5'/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--anchor', '-1', '--output', join(dir, 'x')), /otfuse fuse: .*ambiguous/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--weights', '0,0', '--output', join(dir, 'x')), /--weights: at least one weight must be above 0/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--weights', '0x10,1', '--output', join(dir, 'x')), /--weights: expected 2 comma-separated numbers/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--output', '  '), /--output: expected a folder path, got an empty one/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--fusion-data', '', '--output', join(dir, 'x')), /--fusion-data: expected a folder path/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--output', join(dir, 'x')), /otfuse fuse: needs --data <folder> or --fusion-data <folder>/);
      expectInputError(otfuse('fuse', bert, join(dir, 'missing'), '--fusion-data', join(root, 'data', 'fortunes-short'), '--output', join(dir, 'x')), /missing: model folder does not exist/);
      // Nor does an output replace the data it reads (with --force), or start the fusion
      // when the evaluation has no test split.
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--fusion-data', samples, '--output', samples, '--force'), /it would replace the input dataset/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--data', samples, '--output', join(dir, 'x')), /fashion-mnist-fusion: has no IDX test split/);
      assert.ok(existsSync(join(samples, 'train-images-idx3-ubyte.gz')));
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--weights', '1,x', '--output', join(dir, 'x')), /--weights: expected 2 comma-separated numbers/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--set', 'fusion.ot_solvr=emd', '--output', join(dir, 'x')), /otfuse fuse: fusion\.ot_solvr: unknown key; did you mean 'ot_solver'/);
      expectInputError(otfuse('fuse', model('vit-a'), model('vit-b'), '--fusion-data', samples, '--output', join(dir, 'two')), /two: output folder already exists/);
      assert.ok(!existsSync(join(dir, 'x')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('doctor reports the backend, --help lists the commands', () => {
    const r = otfuse('doctor', '--json');
    assert.equal(r.code, 0);
    const info = JSON.parse(r.stdout);
    assert.ok(info.threads >= 1);
    assert.equal(typeof info.cudaAvailable, 'boolean');
    assert.equal('gpu' in info, info.cudaAvailable);
    if (info.cudaCompiled) assert.ok('cublas' in info && 'cudaRuntime' in info);
    assert.equal(info.defaultDevice, info.cudaAvailable ? 'cuda' : 'cpu');
    const text = otfuse('doctor');
    assert.match(text.stdout, /^cpu gemm /m);
    assert.match(text.stdout, /^cuda /m);
    const bad = otfuse('eval', 'some-model', '--data', 'x', '--device', 'tpu');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--device.*expected auto, cpu or cuda/);
    const help = otfuse('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /inspect/);
    assert.match(otfuse('inspect', '--help').stdout, /usage: otfuse inspect <model-folder>/);
    assert.match(otfuse('help', 'fuse').stdout, /^usage: otfuse fuse <model> <model>/);
  });
});
