// otfuse run on BERTs (model.type hf_bert), on small random models, a text dataset made
// of words from a fixture vocabulary, and that vocabulary: what it writes (fused HF
// folders with the anchor's tokenizer files, report.json), what it reports for masked
// LMs and classifiers, the finetuned models and the landscape, and how it refuses what
// cannot work, naming the key or folder.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExperimentConfig } from '../lib/config/load.ts';
import { InputError } from '../lib/errors.ts';
import { loadModel } from '../lib/io/model-folder.ts';
import { bertFromModel } from '../lib/models/bert.ts';
import { evaluate } from '../lib/api.ts';
import { runBertExperiment } from '../lib/pipeline/bert-run.ts';
import { formatBertExperimentSummary } from '../lib/report/experiment-summary.ts';
import { TINY_MLM, writeBert, writeText } from './helpers/bert-folders.ts';
import type { BertRefConfig } from './helpers/bert-reference.ts';

const mlm = TINY_MLM;
const cls: BertRefConfig = { ...mlm, architectures: ['BertForSequenceClassification'], num_labels: 3 };

describe('otfuse run on BERTs', function () {
  this.timeout(60000);
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otfuse-bert-run-'));
    writeText(join(dir, 'text'), 1);
    await writeBert(join(dir, 'a'), mlm, 1);
    await writeBert(join(dir, 'b'), mlm, 2);
    await writeBert(join(dir, 'c'), mlm, 3);
    await writeBert(join(dir, 'wide'), { ...mlm, hidden_size: 24, intermediate_size: 32 }, 4);
    await writeBert(join(dir, 'heads'), { ...mlm, num_attention_heads: 4 }, 5);
    await writeBert(join(dir, 'ca'), cls, 6);
    await writeBert(join(dir, 'cb'), cls, 7);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const config = (extra: string | string[], names = ['a', 'b']) => parseExperimentConfig(
    [
      'model:', '  type: hf_bert', ...names.map((n, i) => `  name_${i}: ${join(dir, n)}`),
      'fusion:', `  num_models: ${names.length}`, '  resid_policy: mean', '  acts:', '    num_samples: 12',
      'data:', `  folder: ${join(dir, 'text')}`, '  batch_size: 5', '  text:', '    max_length: 12', '  activations:', '    holdout_fraction: 0.5',
      typeof extra === 'string' ? extra : '',
    ].join('\n'),
    'exp.yaml',
    typeof extra === 'string' ? [] : extra,
  );

  it('fuses masked LMs: writes ot/, ot-repaired/, vanilla/ with the tokenizer, reports MLM loss, perplexity and accuracy', async () => {
    const out = join(dir, 'out');
    const stages: string[] = [];
    const report = await runBertExperiment(config(`output:\n  folder: ${out}`), { onStage: (s) => stages.push(s) });
    assert.deepEqual([...new Set(stages)], ['load', 'activations', 'fusion', 'repair', 'vanilla', 'evaluate', 'save']);
    assert.deepEqual(readdirSync(out).sort(), ['ot', 'ot-repaired', 'report.json', 'vanilla']);
    for (const m of ['ot', 'ot-repaired', 'vanilla']) assert.ok(existsSync(join(out, m, 'vocab.txt')), `${m}/vocab.txt`);
    assert.equal(report.head, 'masked-lm');
    assert.equal(report.activations!.captured, 12);
    assert.match(report.activations!.source, /^the first 12 sequences of .* \(held-out 20 of 40 examples: holdout fraction 0.5, seed 0\)$/);
    for (const r of [report.parents[0], report.parents[1], report.vanilla!, report.ot, report.otRepaired!]) {
      const t = r.test!;
      assert.equal(t.kind, 'masked-lm');
      if (t.kind !== 'masked-lm') return;
      assert.ok(t.maskedTokens > 0 && Number.isFinite(t.loss) && Math.abs(t.perplexity - Math.exp(t.loss)) < 1e-6 * t.perplexity);
      assert.ok(t.accuracy >= 0 && t.accuracy <= 1);
    }
    assert.ok(report.maps[0].maps.some((m) => m.piece === 'word embeddings'));
    const saved = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(saved.parents.length, 2);
    // The written OT model loads, stays tied, and is what was fused.
    const ot = await loadModel(join(out, 'ot'));
    const bert = await bertFromModel(ot);
    assert.equal(bert.config.tiedDecoder, true);
    assert.ok(!ot.tensors.has('cls.predictions.decoder.weight') || ot.tensors.get('cls.predictions.decoder.weight')!.data[0] === ot.tensors.get('bert.embeddings.word_embeddings.weight')!.data[0]);
    const summary = formatBertExperimentSummary(report);
    assert.match(summary, /mlm loss +perplexity +masked acc/);
    assert.match(summary, /OT fusion \+ repair \(anchor\)/);
  });

  it('finetunes the OT models after the fusion, saves them with the tokenizer, and draws the masked-token accuracy landscape', async () => {
    const out = join(dir, 'out-finetune');
    const stages: string[] = [];
    const report = await runBertExperiment(config([
      `output.folder=${out}`, 'finetune.enabled=true', 'finetune.max_steps=2', 'finetune.batch_size=8',
      'plots.landscape=true', 'plots.landscape_points=3', 'plots.landscape_test_limit=8',
    ]), { onStage: (s) => stages.push(s) });
    assert.deepEqual([...new Set(stages)], ['load', 'activations', 'fusion', 'repair', 'vanilla', 'evaluate', 'finetune', 'landscape', 'save']);
    assert.deepEqual(report.finetuned.map((f) => [f.name, f.from, f.steps]), [['ot+finetune', 'ot', 2], ['ot-repaired+finetune', 'ot-repaired', 2]]);
    for (const f of report.finetuned) {
      const last = f.curve[f.curve.length - 1];
      assert.equal(last.step, 2);
      assert.ok(Number.isFinite(last.testLoss!) && Math.abs(last.testPerplexity! - Math.exp(last.testLoss!)) < 1e-6 * last.testPerplexity!);
      assert.equal(f.finalTestAccuracy, last.testAccuracy);
    }
    assert.deepEqual(readdirSync(out).sort(), ['landscape.svg', 'ot', 'ot-finetuned', 'ot-repaired', 'ot-repaired-finetuned', 'report.json', 'vanilla']);
    assert.ok(existsSync(join(out, 'ot-finetuned', 'vocab.txt')));
    // What was saved is what was trained: its test loss is the curve's last one.
    const tuned = await evaluate(await loadModel(join(out, 'ot-finetuned')), { data: join(dir, 'text'), maxLength: 12 });
    const { curve } = report.finetuned[0];
    assert.ok(tuned.kind === 'masked-lm' && Math.abs(tuned.loss - curve[curve.length - 1].testLoss!) < 1e-4, `${JSON.stringify(tuned)}`);
    const saved = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(saved.finetuned[1].name, 'ot-repaired+finetune');
    assert.equal(saved.landscape.grid.xs.length, 3);
    assert.deepEqual(saved.landscape.grid.values.map((r: number[]) => r.length), [3, 3, 3]);
    assert.ok(report.landscape!.grid.values.flat().every((v) => v >= 0 && v <= 1));
    assert.deepEqual(report.landscape!.markers.map((m) => m.label), ['anchor', 'OT fusion', 'vanilla fusion']);
    assert.match(readFileSync(join(out, 'landscape.svg'), 'utf8'), /^<svg[^>]*>[\s\S]*Masked-token accuracy on the plane through name_1[\s\S]*OT fusion[\s\S]*<\/svg>\n$/);
    const summary = formatBertExperimentSummary(report);
    assert.match(summary, /OT fusion \+ repair \+ finetune \(2 steps\) +\S+ot-repaired-finetuned/);
    assert.match(summary, /ot-finetuned\/, ot-repaired-finetuned\/, report\.json, landscape\.svg/);
  });

  it('fuses classifiers (accuracy), three models, and a wider parent into the anchor\'s shape', async () => {
    const c = await runBertExperiment(config(['fusion.type=wts', 'fusion.repair=none', 'finetune.enabled=true', 'finetune.max_steps=1', 'finetune.baselines=true'], ['ca', 'cb']));
    assert.equal(c.head, 'sequence-classification');
    for (const r of [c.parents[0], c.ot, c.vanilla!]) {
      assert.equal(r.test!.kind, 'sequence-classification');
      assert.ok(r.test!.accuracy >= 0 && r.test!.accuracy <= 1);
    }
    // Classifiers finetune on train.labels; the baselines are the vanilla model and the better parent.
    const better = c.parents[0].test!.accuracy > c.parents[1].test!.accuracy ? 'name_0' : 'name_1';
    assert.deepEqual(c.finetuned.map((f) => f.name), ['ot+finetune', 'vanilla+finetune', `${better} (parent)+finetune`]);
    for (const f of c.finetuned) assert.ok(f.finalTestAccuracy! >= 0 && f.finalTestAccuracy! <= 1 && f.curve[0].testPerplexity === null);
    assert.match(formatBertExperimentSummary(c), /name_\d \(parent\) \+ finetune \(1 steps\) +\(not saved\)/);
    assert.match(formatBertExperimentSummary(c), /test accuracy +test loss/);
    const three = await runBertExperiment(config(['fusion.repair=none'], ['a', 'b', 'c']));
    assert.deepEqual(three.weights.map((w) => w.toFixed(4)), ['0.3333', '0.3333', '0.3333']);
    assert.equal(three.maps.length, 2);
    const hetero = await runBertExperiment(config('', ['wide', 'b']));
    assert.equal(hetero.heterogeneous, true);
    assert.equal(hetero.vanilla, null);
    assert.equal(hetero.ot.parameters, hetero.parents[1].parameters);
    assert.ok(Number.isFinite((hetero.ot.test as { loss: number }).loss));
  });

  it('reads at most 128 tokens, or the models\' positions when they have fewer, when data.text.max_length is unset', async () => {
    const cfg = config(['fusion.repair=none']);
    cfg.data.text.max_length = null;
    const report = await runBertExperiment(cfg);
    assert.equal(report.text.maxLength, 16);
    assert.ok(Number.isFinite((report.ot.test as { loss: number }).loss));
  });

  it('names what cannot work', async () => {
    const refused = async (extra: string[], pattern: RegExp, names?: string[]) =>
      assert.rejects(runBertExperiment(config(extra, names)), (e) => e instanceof InputError && pattern.test(e.message));
    await refused(['fusion.acts.seq_filter=window_2'], /^fusion\.acts\.seq_filter: /);
    await refused(['data.text.max_length=40'], /^data\.text\.max_length: 40 is more than the models' 16 positions/);
    await refused(['fusion.acts.loss_thres=3'], /^fusion\.acts\.loss_thres: /);
    await refused(['fusion.acts.seq_pos=11'], /^fusion\.acts\.seq_pos: position 11 is past the end of fusion sequence \d+/);
    await refused(['fusion.acts.num_samples=500'], /^fusion\.acts\.num_samples: asks for 500 samples/);
    await refused([], /heads: has num_attention_heads 4, .* has 2; fused models must share it/, ['a', 'heads']);
    await refused([], /has a head sequence-classification, .* has masked-lm/, ['a', 'ca']);
    // Image augmentation for a BERT is refused with the config itself, before any work.
    assert.throws(() => config(['finetune.enabled=true', 'finetune.augment.crop_padding=2']), /exp\.yaml: finetune\.augment\.crop_padding: crops images/);
    await refused(['plots.landscape=true'], /^plots\.landscape: needs parents of one shape/, ['wide', 'b']);
    await refused(['fusion.fuse_src_embed=false'], /^fusion\.fuse_src_embed: false keeps the anchor's embeddings.*one hidden width/, ['wide', 'b']);
    assert.throws(() => parseExperimentConfig('model:\n  type: hf_bret\n  name_0: a\n  name_1: b\n', 'exp.yaml'), /model\.type/);
  });
});
