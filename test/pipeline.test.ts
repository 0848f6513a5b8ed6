// otfuse run's pipeline on small random ViTs and a synthetic dataset: what it writes,
// what it reports, that the parents are never modified, and how it refuses bad setups.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExperimentConfig } from '../lib/config/load.ts';
import { InputError } from '../lib/errors.ts';
import { parseHfConfig } from '../lib/io/hf-config.ts';
import { loadModel, saveModel } from '../lib/io/model-folder.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { runExperiment } from '../lib/pipeline/run.ts';
import { writeSyntheticIdx } from './helpers/synthetic-idx.ts';
import { randomTensors, type RefConfig } from './helpers/vit-reference.ts';

const base: RefConfig = {
  image_size: 8, patch_size: 2, num_channels: 1, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 4, layer_norm_eps: 1e-12, qkv_bias: true,
};

async function writeModel(folder: string, cfg: RefConfig, seed: number): Promise<void> {
  const config = parseHfConfig(JSON.stringify({ model_type: 'vit', architectures: ['ViTForImageClassification'], ...cfg }), folder);
  await saveModel(folder, { config, architecture: 'ViTForImageClassification', tensors: randomTensors(cfg, seed) as Map<string, Tensor> });
}

function folderHash(folder: string): string {
  const h = createHash('sha256');
  for (const f of readdirSync(folder).sort()) h.update(f).update(readFileSync(join(folder, f)));
  return h.digest('hex');
}

describe('experiment pipeline', function () {
  this.timeout(60000);
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otfuse-pipeline-'));
    writeSyntheticIdx(join(dir, 'data'), { train: 60, test: 24, size: 8, classes: 4, seed: 1 });
    await writeModel(join(dir, 'a'), base, 1);
    await writeModel(join(dir, 'b'), base, 2);
    await writeModel(join(dir, 'c'), base, 3);
    await writeModel(join(dir, 'wide'), { ...base, hidden_size: 24, intermediate_size: 32, num_attention_heads: 3 }, 4);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const config = (extra: string, names = ['a', 'b']) => parseExperimentConfig(
    [
      'model:', ...names.map((n, i) => `  name_${i}: ${join(dir, n)}`), '  dataset: mnist',
      'fusion:', `  num_models: ${names.length}`, '  resid_policy: mean', '  acts:', '    num_samples: 20', '    seq_filter: window_2',
      'data:', `  folder: ${join(dir, 'data')}`, '  activations:', '    holdout_fraction: 0.5',
      extra,
    ].join('\n'),
    'exp.yaml',
  );

  it('writes ot/, vanilla/ and report.json, reports every model, leaves the parents untouched', async () => {
    const before = ['a', 'b'].map((n) => folderHash(join(dir, n)));
    const out = join(dir, 'out');
    const stages: string[] = [];
    const report = await runExperiment(config(`output:\n  folder: ${out}`), { onStage: (s) => stages.push(s) });
    assert.deepEqual(['a', 'b'].map((n) => folderHash(join(dir, n))), before);
    assert.deepEqual([...new Set(stages)], ['load', 'activations', 'fusion', 'repair', 'vanilla', 'evaluate', 'save']);
    assert.deepEqual(readdirSync(out).sort(), ['ot', 'ot-repaired', 'report.json', 'vanilla']);
    const saved = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(saved.parents.length, 2);
    assert.equal(saved.anchor, 'name_1');
    // Every stage that ran is timed in the file, the save included, and the total covers them.
    for (const s of ['load', 'activations', 'fusion', 'repair', 'vanilla', 'evaluate', 'save']) assert.ok(saved.seconds[s] >= 0, `seconds.${s}`);
    assert.ok(saved.seconds.total >= saved.seconds.save && report.seconds.save! >= saved.seconds.save);
    assert.equal(saved.activations.kept, 20);
    assert.match(saved.activations.source, /^the first 20 of the idx train split of .* \(held-out 30 of 60: holdout fraction 0.5, seed 0\)$/);
    for (const r of [report.parents[0], report.parents[1], report.vanilla!, report.ot]) {
      assert.equal(r.test!.images, 24);
      assert.ok(r.test!.accuracy >= 0 && r.test!.accuracy <= 1 && Number.isFinite(r.test!.meanLoss));
    }
    assert.ok(report.maps[0].maps.length > 10);
    for (const m of report.maps[0].maps) assert.ok(m.n > 0 && m.m > 0 && m.permutationScore > 0 && Number.isFinite(m.transportCost));
    // The saved OT model is a loadable HF folder whose accuracy is what the report says.
    const ot = await loadModel(join(out, 'ot'));
    assert.equal(ot.tensors.size, (await loadModel(join(dir, 'b'))).tensors.size);
    assert.ok(existsSync(join(out, 'ot', 'preprocessor_config.json')));
  });

  it('draws the accuracy landscape through anchor, OT and vanilla models', async () => {
    const out = join(dir, 'out-landscape');
    const report = await runExperiment(config(`output:\n  folder: ${out}\nplots:\n  landscape: true\n  landscape_points: 4\n  landscape_test_limit: 8`));
    const l = report.landscape!;
    assert.equal(l.grid.values.length, 4);
    assert.ok(l.grid.values.flat().every((a) => a >= 0 && a <= 1));
    assert.deepEqual(l.markers.map((m) => m.label), ['anchor', 'OT fusion', 'vanilla fusion']);
    assert.match(readFileSync(join(out, 'landscape.svg'), 'utf8'), /^<svg[^>]*>[\s\S]*OT fusion[\s\S]*<\/svg>\n$/);
  });

  it('refuses an existing output before doing any work, replaces it with force', async () => {
    const out = join(dir, 'out2');
    await runExperiment(config(`output:\n  folder: ${out}`));
    const stages: string[] = [];
    await assert.rejects(runExperiment(config(`output:\n  folder: ${out}`), { onStage: (s) => stages.push(s) }), (e) => e instanceof InputError && /already exists/.test(e.message));
    assert.deepEqual(stages, []);
    await runExperiment(config(`output:\n  folder: ${out}\n  force: true`));
    assert.ok(existsSync(join(out, 'report.json')));
  });

  it('fuses three models and a model of another width (no vanilla fusion then)', async () => {
    const three = await runExperiment(config('', ['a', 'b', 'c']));
    assert.equal(three.maps.length, 2);
    assert.deepEqual(three.weights.map((w) => w.toFixed(4)), ['0.3333', '0.3333', '0.3333']);
    const hetero = await runExperiment(config('', ['wide', 'b']));
    assert.equal(hetero.heterogeneous, true);
    assert.equal(hetero.vanilla, null);
    assert.equal(hetero.ot.parameters, hetero.parents[1].parameters);
  });

  it('acts.seq_pos keeps one token position: position 0 fuses as only_cls does; a position past the tokens names the key', async () => {
    const at = (extra: Record<string, unknown>) => {
      const c = config('');
      Object.assign(c.fusion.acts, extra);
      return runExperiment(c);
    };
    const cls = await at({ seq_filter: { kind: 'only_cls' } }), pos = await at({ seq_pos: 0 });
    assert.deepEqual(pos.maps[0].maps.map((m) => m.transportCost), cls.maps[0].maps.map((m) => m.transportCost));
    assert.equal(pos.activations?.seqFilter, 'position_0');
    const other = await at({ seq_pos: 3 });
    assert.notDeepEqual(other.maps[0].maps.map((m) => m.transportCost), cls.maps[0].maps.map((m) => m.transportCost));
    // Only the first token: layer 0's query, key and value see one constant input, which the report says.
    assert.match(cls.warnings.join('\n'), /^fusion\.acts\.seq_filter only_cls: layer 0's query, key and value see the same first-token input .* std transform/);
    assert.match(pos.warnings.join('\n'), /^fusion\.acts\.seq_pos 0: /);
    assert.deepEqual(other.warnings, []);
    assert.deepEqual((await at({ seq_filter: { kind: 'only_cls' }, std: false, center: false, norm: false })).warnings, []);
    await assert.rejects(at({ seq_pos: 999 }), (e) => e instanceof InputError && e.source === 'fusion.acts.seq_pos' && /position 999 is past/.test(e.message));
  });

  it('names the fault: missing data, unfusable parents, too few samples, cancellation', async () => {
    await assert.rejects(runExperiment(parseExperimentConfig(`model:\n  name_0: ${join(dir, 'a')}\n  name_1: ${join(dir, 'b')}\n`, 'x.yaml')), /data\.folder: is needed/);
    const tooMany = config('');
    tooMany.fusion.acts.num_samples = 1000;
    await assert.rejects(runExperiment(tooMany), /num_samples: asks for 1000 samples, the fusion data has 30/);
    await assert.rejects(runExperiment(config('', ['a', 'nonexistent'])), /nonexistent: model folder does not exist/);
    // A part kept unfused across widths is refused by key before any activation is captured.
    const stages: string[] = [];
    const keepNorms = config('', ['wide', 'b']);
    keepNorms.fusion.fuse_norm = false;
    await assert.rejects(runExperiment(keepNorms, { onStage: (s) => stages.push(s) }), (e) => e instanceof InputError && e.source === 'fusion.fuse_norm');
    assert.ok(!stages.includes('activations'), stages.join());
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(runExperiment(config(''), { signal: controller.signal }), (e) => (e as Error).name === 'AbortError');
  });
});
