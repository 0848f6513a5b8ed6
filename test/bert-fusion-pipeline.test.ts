// otfuse run on BERTs (model.type hf_bert), on small random models, a text dataset made
// of words from a fixture vocabulary, and that vocabulary: what it writes (fused HF
// folders with the anchor's tokenizer files, report.json), what it reports for masked
// LMs and classifiers, and how it refuses what cannot work, naming the key or folder.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExperimentConfig } from '../lib/config/load.ts';
import { InputError } from '../lib/errors.ts';
import { parseHfConfig } from '../lib/io/hf-config.ts';
import { loadModel, saveModel } from '../lib/io/model-folder.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { bertFromModel } from '../lib/models/bert.ts';
import { runBertExperiment } from '../lib/pipeline/bert-run.ts';
import { formatBertExperimentSummary } from '../lib/report/experiment-summary.ts';
import { bertRandomTensors, type BertRefConfig } from './helpers/bert-reference.ts';
import { fixture } from './helpers/fixtures.ts';
import { seededRandom } from './helpers/random.ts';

const VOCAB = fixture('bert-torch', 'mlm', 'vocab.txt');
const mlm: BertRefConfig = {
  architectures: ['BertForMaskedLM'], vocab_size: 212, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, max_position_embeddings: 16, type_vocab_size: 2, layer_norm_eps: 1e-12,
};
const cls: BertRefConfig = { ...mlm, architectures: ['BertForSequenceClassification'], num_labels: 3 };

async function writeBert(folder: string, cfg: BertRefConfig, seed: number): Promise<void> {
  const config = parseHfConfig(JSON.stringify({ model_type: 'bert', hidden_act: 'gelu', pad_token_id: 0, ...cfg }), folder);
  await saveModel(folder, { config, architecture: cfg.architectures[0], tensors: bertRandomTensors(cfg, seed) as Map<string, Tensor> });
  copyFileSync(VOCAB, join(folder, 'vocab.txt'));
}

/** Lines of random whole words of the vocabulary, with labels 0..2. */
function writeText(folder: string, seed: number): void {
  const words = readFileSync(VOCAB, 'utf8').split('\n').filter((w) => /^[a-z]+$/.test(w));
  const rand = seededRandom(seed);
  mkdirSync(folder, { recursive: true });
  for (const [split, n] of [['train', 40], ['test', 16]] as const) {
    const lines = Array.from({ length: n }, () => Array.from({ length: 4 + Math.floor(rand() * 8) }, () => words[Math.floor(rand() * words.length)]).join(' '));
    writeFileSync(join(folder, `${split}.txt`), `${lines.join('\n')}\n`);
    writeFileSync(join(folder, `${split}.labels`), `${lines.map((_, i) => String(i % 3)).join('\n')}\n`);
  }
}

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
    const bert = bertFromModel(ot);
    assert.equal(bert.config.tiedDecoder, true);
    assert.ok(!ot.tensors.has('cls.predictions.decoder.weight') || ot.tensors.get('cls.predictions.decoder.weight')!.data[0] === ot.tensors.get('bert.embeddings.word_embeddings.weight')!.data[0]);
    const summary = formatBertExperimentSummary(report);
    assert.match(summary, /mlm loss +perplexity +masked acc/);
    assert.match(summary, /OT fusion \+ repair \(anchor\)/);
  });

  it('fuses classifiers (accuracy), three models, and a wider parent into the anchor\'s shape', async () => {
    const c = await runBertExperiment(config(['fusion.type=wts', 'fusion.repair=none'], ['ca', 'cb']));
    assert.equal(c.head, 'sequence-classification');
    for (const r of [c.parents[0], c.ot, c.vanilla!]) {
      assert.equal(r.test!.kind, 'sequence-classification');
      assert.ok(r.test!.accuracy >= 0 && r.test!.accuracy <= 1);
    }
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

  it('names what cannot work', async () => {
    const refused = async (extra: string[], pattern: RegExp, names?: string[]) =>
      assert.rejects(runBertExperiment(config(extra, names)), (e) => e instanceof InputError && pattern.test(e.message));
    await refused(['fusion.acts.seq_filter=window_2'], /^fusion\.acts\.seq_filter: /);
    await refused(['data.text.max_length=40'], /^data\.text\.max_length: 40 is more than the models' 16 positions/);
    await refused(['fusion.acts.loss_thres=3'], /^fusion\.acts\.loss_thres: /);
    await refused(['fusion.acts.num_samples=500'], /^fusion\.acts\.num_samples: asks for 500 samples/);
    await refused([], /heads: has num_attention_heads 4, .* has 2; fused models must share it/, ['a', 'heads']);
    await refused([], /has a head sequence-classification, .* has masked-lm/, ['a', 'ca']);
    await refused(['finetune.enabled=true'], /^finetune\.enabled: /);
    assert.throws(() => parseExperimentConfig('model:\n  type: hf_bret\n  name_0: a\n  name_1: b\n', 'exp.yaml'), /model\.type/);
  });
});
