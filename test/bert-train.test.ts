// BERT training end to end on tiny models and a tiny text corpus: the WordPiece
// vocabulary builder, a tiny BERT overfitting a tiny batch, bit-identical weights for the
// same seed, Ctrl-C and --resume, the HF folder a run writes (loadable, with its
// tokenizer), finetuning a masked LM and a classifier folder, and bad recipes and bad text
// refused with errors naming the key or the file and line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, isAbortError } from '../lib/errors.ts';
import { loadModel } from '../lib/io/model-folder.ts';
import { readSafetensors } from '../lib/io/safetensors.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { bertFromModel, type BertConfig } from '../lib/models/bert.ts';
import { native } from '../lib/native.ts';
import { evaluateMaskedLm } from '../lib/text-eval.ts';
import { openTextDataset } from '../lib/text/dataset.ts';
import { encodeExamples } from '../lib/text/sequences.ts';
import { BertTokenizer } from '../lib/text/tokenizer.ts';
import { buildWordPieceVocab, vocabFileText } from '../lib/text/vocab-builder.ts';
import { Vocabulary } from '../lib/text/vocab.ts';
import { writeTrainedBert } from '../lib/train/bert-checkpoint.ts';
import { parseBertTrainConfig } from '../lib/train/bert-config.ts';
import { finetuneBertFolder } from '../lib/train/bert-finetune.ts';
import { initBertTensors } from '../lib/train/bert-init.ts';
import { trainBertFromConfig } from '../lib/train/bert-run-config.ts';
import { trainBert, type TextRecipe } from '../lib/train/bert-train.ts';
import { BertTrainer } from '../lib/train/bert-trainer.ts';
import { expectInputError } from './helpers/expect-error.ts';

const CORPUS = [
  'the cat sat on the mat.', 'the dog sat on the log.', 'a cat and a dog are friends.', 'the mat is red and the log is brown.',
  'cats like mats; dogs like logs.', 'the red cat sat on the brown log.', 'a dog and a cat sat on a mat.', 'friends sit on mats and logs.',
  'the brown dog likes the red mat.', 'is the cat on the mat or the log?', 'the dog is a friend of the cat.', 'red mats, brown logs.',
];
const TEST = ['the cat sat on the log.', 'a dog sat on the red mat.', 'the brown cat likes logs.'];

function recipe(changes: Partial<TextRecipe> = {}): TextRecipe {
  return {
    epochs: 1, max_steps: null, batch_size: 4, micro_batch: null, learning_rate: 3e-3, lr_schedule: 'cosine', warmup_ratio: 0.1,
    warmup_steps: null, weight_decay: 0.01, adam_beta1: 0.9, adam_beta2: 0.999, adam_epsilon: 1e-8, max_grad_norm: 1, label_smoothing: 0,
    seed: 0, eval_steps: null, ...changes,
  };
}

function tinyConfig(tokenizer: BertTokenizer, changes: Partial<BertConfig> = {}): BertConfig {
  return {
    head: 'masked-lm', vocabSize: tokenizer.vocabSize, hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 32, maxPositions: 16,
    typeVocabSize: 2, layerNormEps: 1e-12, numLabels: 2, tiedDecoder: true, padTokenId: tokenizer.specialIds.pad, ...changes,
  };
}

function sameBits(a: Map<string, Tensor>, b: Map<string, Tensor>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, t] of a) {
    const u = b.get(name);
    if (!u || u.data.length !== t.data.length) return false;
    for (let i = 0; i < t.data.length; i++) if (!Object.is(t.data[i], u.data[i])) return false;
  }
  return true;
}

describe('BERT training', () => {
  let dir: string, data: string, vocabPath: string, tokenizer: BertTokenizer;
  before(() => {
    native().setThreads(2);
    dir = mkdtempSync(join(tmpdir(), 'bert-train-'));
    data = join(dir, 'corpus');
    mkdirSync(data);
    writeFileSync(join(data, 'train.txt'), CORPUS.join('\n') + '\n');
    writeFileSync(join(data, 'test.txt'), TEST.join('\n') + '\n');
    const built = buildWordPieceVocab(CORPUS, { size: 60, minFrequency: 1 });
    vocabPath = join(data, 'vocab.txt');
    writeFileSync(vocabPath, vocabFileText(built.tokens));
    tokenizer = new BertTokenizer(new Vocabulary(built.tokens));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('the WordPiece vocabulary builder', () => {
    it('lists the special tokens, the characters, their continuations, then merged pieces, the same every time', () => {
      const a = buildWordPieceVocab(CORPUS, { size: 60, minFrequency: 1 });
      const b = buildWordPieceVocab([...CORPUS], { size: 60, minFrequency: 1 });
      assert.deepEqual(a.tokens, b.tokens);
      assert.equal(a.tokens.length, 60);
      assert.deepEqual(a.tokens.slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
      const chars = a.tokens.slice(5, 5 + a.characters);
      assert.ok(chars.every((c) => Array.from(c).length === 1), `characters: ${chars.join(' ')}`);
      assert.deepEqual(chars, [...chars].sort());
      assert.ok(a.tokens.includes('##t') && a.tokens.includes('the'), 'a continuation character and a frequent word');
      assert.equal(new Set(a.tokens).size, a.tokens.length, 'no token twice');
      // Every merged piece is a word start or a ## continuation made of known characters.
      for (const t of a.tokens.slice(5 + a.characters)) assert.match(t, /^(##)?[^#]+$/);
      // Small vocabularies are prefixes of larger ones (merges come in the same order).
      const small = buildWordPieceVocab(CORPUS, { size: 40, minFrequency: 1 });
      assert.deepEqual(small.tokens, a.tokens.slice(0, 40));
    });

    it('otfuse build-vocab writes the same vocab.txt every time, and needs --size', () => {
      const bin = new URL('../bin/otfuse.js', import.meta.url).pathname;
      const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'build-vocab', data, ...args], { encoding: 'utf8' });
      const [x, y] = [join(dir, 'v1.txt'), join(dir, 'v2.txt')];
      for (const out of [x, y]) {
        const r = run('--size', '50', '--min-frequency', '1', '--output', out);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /wrote .*v\d\.txt: 50 tokens/);
      }
      assert.equal(readFileSync(x, 'utf8'), readFileSync(y, 'utf8'));
      assert.equal(readFileSync(x, 'utf8'), vocabFileText(buildWordPieceVocab(CORPUS, { size: 50, minFrequency: 1 }).tokens));
      const bad = run('--output', join(dir, 'v3.txt'));
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /needs --size/);
    });

    it('spells every word of its corpus; unknown characters become [UNK]', () => {
      const ids = tokenizer.toIds(tokenizer.tokenize('the cat sat on the mat'));
      assert.ok(!ids.includes(tokenizer.specialIds.unk));
      assert.equal(tokenizer.decode(ids), 'the cat sat on the mat');
      const unknown = tokenizer.toIds(tokenizer.tokenize('the zebra'));
      assert.deepEqual(unknown.slice(1), [tokenizer.specialIds.unk], 'a word with a character outside the vocabulary is [UNK] whole');
    });
  });

  it('a tiny BERT overfits a tiny batch (masked LM and classifier)', async () => {
    const enc = encodeExamples(tokenizer, CORPUS.slice(0, 4).map((text, i) => ({ text, line: i + 1 })), { maxLength: 16 });
    const batch = tokenizer.pad(enc);
    const labels = new Int32Array(batch.ids.length).fill(-100);
    const inputs = { ...batch, ids: batch.ids.slice() };
    for (let s = 0; s < batch.count; s++)
      for (const t of [1, 3]) {
        labels[s * batch.tokens + t] = batch.ids[s * batch.tokens + t];
        inputs.ids[s * batch.tokens + t] = tokenizer.specialIds.mask;
      }
    const config = tinyConfig(tokenizer);
    const trainer = await BertTrainer.create(config, initBertTensors(config, 1), { batchSize: 4, maxTokens: 16 });
    trainer.configure({ schedule: 'constant', lr: 1e-2, warmupSteps: 0, totalSteps: 150, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, labelSmoothing: 0, maxGradNorm: 1 });
    const first = await trainer.step(inputs, labels);
    let last = first;
    for (let i = 0; i < 150; i++) last = await trainer.step(inputs, labels);
    assert.equal(first.labelled, 8);
    assert.ok(first.loss > 2.5, `first loss ${first.loss}`);
    assert.ok(last.loss < 0.05 && last.correct === 8, `last loss ${last.loss}, ${last.correct}/8`);

    const cconfig = tinyConfig(tokenizer, { head: 'sequence-classification', numLabels: 3, hiddenSize: 32 });
    const ctrainer = await BertTrainer.create(cconfig, initBertTensors(cconfig, 4), { batchSize: 4, maxTokens: 16, microBatch: 3 });
    ctrainer.configure({ schedule: 'constant', lr: 1e-2, warmupSteps: 0, totalSteps: 100, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, labelSmoothing: 0, maxGradNorm: 1 });
    const classes = Int32Array.from([0, 2, 1, 2]);
    let c = await ctrainer.step(batch, classes);
    for (let i = 0; i < 100; i++) c = await ctrainer.step(batch, classes);
    assert.ok(c.loss < 0.05 && c.correct === 4, `classifier loss ${c.loss}`);
  });

  it('the same seed gives bit-identical weights; another seed does not; bad batches are refused naming the position', async () => {
    const examples = CORPUS.map((text, i) => ({ text, line: i + 1 }));
    const train = encodeExamples(tokenizer, examples, { maxLength: 12, pack: true });
    const config = tinyConfig(tokenizer);
    const run = (seed: number) => trainBert({
      config, recipe: recipe({ epochs: 2, seed }), task: { kind: 'masked-lm', maskProbability: 0.3 }, tokenizer, train, maxTokens: 12,
    });
    const [a, b, c] = [await run(3), await run(3), await run(4)];
    assert.ok(sameBits(a.tensors, b.tensors), 'same seed, different weights');
    assert.ok(!sameBits(a.tensors, c.tensors), 'another seed gave the same weights');
    assert.ok(a.curve[a.curve.length - 1].trainLoss < a.curve[0].trainLoss + 1);

    const trainer = await BertTrainer.create(config, initBertTensors(config, 0), { batchSize: 2, maxTokens: 8 });
    if (!native().info().cudaAvailable)
      await assert.rejects(() => BertTrainer.create(config, initBertTensors(config, 0), { batchSize: 2, maxTokens: 8, device: 'cuda' }), /CUDA is not available/);
    const ids = Int32Array.from([2, 7, 9, 3, 2, 999, 3, 0]);
    const bad = { ids, typeIds: new Int32Array(8), mask: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]), count: 2, tokens: 4 };
    await assert.rejects(trainer.step(bad, new Int32Array(8).fill(-100)), /token id 999 at sample 1, position 1 is outside the vocabulary/);
    await assert.rejects(trainer.step({ ...bad, tokens: 9, ids: new Int32Array(18), typeIds: new Int32Array(18), mask: new Uint8Array(18).fill(1) }, new Int32Array(18)), /tokens must lie in \[1, 8\]/);
  });

  describe('otfuse train on a BERT recipe', () => {
    const yaml = (out: string, extra: string[] = []) => [
      'model:', '  model_type: bert', `  vocab: ${vocabPath}`, '  hidden_size: 16', '  num_hidden_layers: 2', '  num_attention_heads: 2',
      '  intermediate_size: 32', '  max_position_embeddings: 16',
      'data:', `  folder: ${data}`, '  max_length: 12', '  mask_probability: 0.3',
      'training:', '  epochs: 3', '  batch_size: 4', '  learning_rate: 3.0e-3',
      'output:', `  folder: ${out}`, 'runtime:', '  threads: 2', ...extra,
    ].join('\n');

    it('writes an HF BertForMaskedLM folder with its tokenizer; Ctrl-C and --resume end with the uninterrupted weights', async () => {
      const whole = join(dir, 'whole'), cut = join(dir, 'cut'), file = join(dir, 'bert.yaml');
      writeFileSync(file, yaml(whole));
      const full = await trainBertFromConfig(parseBertTrainConfig(readFileSync(file, 'utf8'), file), { file });
      assert.equal(full.steps, full.totalSteps);
      assert.equal(full.curve.length, 3);
      assert.ok(full.finalTest!.perplexity! > 1 && full.finalTest!.accuracy !== null);
      for (const f of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'training.json'])
        assert.ok(existsSync(join(whole, f)), f);
      assert.ok(!existsSync(join(whole, 'training_state')));
      const hf = JSON.parse(readFileSync(join(whole, 'config.json'), 'utf8'));
      assert.deepEqual(hf.architectures, ['BertForMaskedLM']);
      assert.equal(hf.model_type, 'bert');
      assert.equal(hf.vocab_size, tokenizer.vocabSize);
      assert.equal(hf.pad_token_id, 0);
      const saved = (await readSafetensors(join(whole, 'model.safetensors'))).tensors;
      assert.ok(saved.has('bert.embeddings.word_embeddings.weight') && saved.has('cls.predictions.bias'));
      assert.ok(!saved.has('cls.predictions.decoder.weight'), 'the tied decoder is not stored twice');
      // Loads back through the model loader and the tokenizer, and evaluates to the recorded loss.
      const model = await bertFromModel(await loadModel(whole));
      const tok = await BertTokenizer.fromFolder(whole, { vocabSize: model.config.vocabSize });
      const r = await evaluateMaskedLm(model, tok, await openTextDataset(data, { split: 'test' }), { maxLength: 12, pack: true, maskProbability: 0.3 });
      assert.ok(Math.abs(r.loss - full.finalTest!.loss!) < 1e-5, `${r.loss} vs ${full.finalTest!.loss}`);

      writeFileSync(file, yaml(cut));
      const controller = new AbortController();
      await assert.rejects(trainBertFromConfig(parseBertTrainConfig(readFileSync(file, 'utf8'), file), {
        file, signal: controller.signal, onStep: (p) => { if (p.step === full.stepsPerEpoch + 1) controller.abort(); },
      }), (e: unknown) => isAbortError(e));
      const state = JSON.parse(readFileSync(join(cut, 'training_state', 'state.json'), 'utf8'));
      assert.equal(state.step, full.stepsPerEpoch);
      const changed = parseBertTrainConfig(readFileSync(file, 'utf8'), file, ['data.mask_probability=0.2']);
      await assert.rejects(trainBertFromConfig(changed, { file, resume: true }),
        (e: unknown) => e instanceof InputError && /data\.mask_probability: 0\.3 in the checkpoint, 0\.2 now/.test(e.message));
      const resumed = await trainBertFromConfig(parseBertTrainConfig(readFileSync(file, 'utf8'), file), { file, resume: true });
      assert.equal(resumed.resumedFrom, full.stepsPerEpoch);
      const a = (await readSafetensors(join(whole, 'model.safetensors'))).tensors;
      const b = (await readSafetensors(join(cut, 'model.safetensors'))).tensors;
      assert.ok(sameBits(a, b), 'the resumed run differs from the uninterrupted one');
      assert.deepEqual(resumed.curve.map((p) => p.testLoss), full.curve.map((p) => p.testLoss));

      // Finetuning the trained masked LM on the same text.
      const tuned = await finetuneBertFolder({ model: whole, data, output: join(dir, 'tuned'), recipe: recipe({ max_steps: 2 }), maxLength: 12 });
      assert.equal(tuned.steps, 2);
      assert.ok(tuned.initialTest!.perplexity! > 1);
      assert.ok(existsSync(join(dir, 'tuned', 'vocab.txt')));
    });

    it('refuses bad recipes and over-long text naming the key or the file and line', async () => {
      const file = join(dir, 'bad.yaml');
      await expectInputError(() => parseBertTrainConfig(yaml(join(dir, 'x')).replace(`  vocab: ${vocabPath}\n`, ''), file), /model\.vocab: missing/);
      await expectInputError(() => parseBertTrainConfig(yaml(join(dir, 'x')).replace('  max_length: 12', '  max_length: 40'), file),
        /data\.max_length: 40 is more than model\.max_position_embeddings 16/);
      await expectInputError(() => parseBertTrainConfig(yaml(join(dir, 'x')).replace('  mask_probability', '  mask_probabilty'), file), /mask_probabilty/);
      const cfg = parseBertTrainConfig(yaml(join(dir, 'x'), []), file, ['data.pack=false', 'data.overlong=refuse', 'data.max_length=6']);
      await expectInputError(() => trainBertFromConfig(cfg, { file }), /corpus\/train\.txt:1: has \d+ tokens with \[CLS\] and \[SEP\], more than the maximum length 6/);
      const missingVocab = parseBertTrainConfig(yaml(join(dir, 'x')).replace(vocabPath, join(dir, 'nope.txt')), file);
      await expectInputError(() => trainBertFromConfig(missingVocab, { file }), /nope\.txt/);
      if (!native().info().cudaAvailable) {
        const onGpu = parseBertTrainConfig(yaml(join(dir, 'x')), file, ['runtime.device=cuda']);
        await expectInputError(() => trainBertFromConfig(onGpu, { file }), /runtime\.device.*CUDA is not available/);
      }
    });
  });

  it('finetunes a BERT classifier folder on a labelled text split', async () => {
    const labelled = join(dir, 'labelled');
    mkdirSync(labelled);
    writeFileSync(join(labelled, 'train.txt'), CORPUS.join('\n') + '\n');
    writeFileSync(join(labelled, 'train.labels'), CORPUS.map((t) => (t.includes('cat') ? 'cat' : 'other')).join('\n') + '\n');
    writeFileSync(join(labelled, 'test.txt'), TEST.join('\n') + '\n');
    writeFileSync(join(labelled, 'test.labels'), 'cat\nother\ncat\n');
    const config = tinyConfig(tokenizer, { head: 'sequence-classification', numLabels: 2, labelNames: ['cat', 'other'] });
    const folder = join(dir, 'classifier');
    await writeTrainedBert(folder, {
      config, initializerRange: 0.02, tensors: initBertTensors(config, 5), tokenizer, maxLength: 16,
      record: { setup: {}, threads: 2, steps: 0, totalSteps: 0, stepsPerEpoch: 1, epochs: 0, completed: true, wallSeconds: 0, secondsPerEpoch: null, tokensPerSecond: 0, finalTest: null, curve: [] },
    });
    const report = await finetuneBertFolder({ model: folder, data: labelled, output: join(dir, 'classifier-tuned'), recipe: recipe({ epochs: 20, learning_rate: 1e-2, warmup_ratio: 0 }), maxLength: 16 });
    assert.equal(report.initialTest!.perplexity, null);
    assert.ok(report.finalTest!.accuracy! >= 2 / 3, `accuracy ${report.finalTest!.accuracy}`);
    const hf = JSON.parse(readFileSync(join(dir, 'classifier-tuned', 'config.json'), 'utf8'));
    assert.deepEqual(hf.architectures, ['BertForSequenceClassification']);
    assert.deepEqual(hf.id2label, { 0: 'cat', 1: 'other' });
  });
});

describe('BERT recipe docs', () => {
  it('documents every BERT recipe key in docs/train.md', async () => {
    const { bertTrainSchema } = await import('../lib/train/bert-config.ts');
    const docs = readFileSync(new URL('../docs/train.md', import.meta.url), 'utf8');
    const keys: string[] = [];
    const walk = (node: { kind: string; fields?: Record<string, unknown> }, path: string) => {
      if (node.kind !== 'section') return void keys.push(path);
      for (const [k, child] of Object.entries(node.fields!)) walk(child as { kind: string }, path ? `${path}.${k}` : k);
    };
    walk(bertTrainSchema, '');
    const missing = keys.filter((k) => !docs.includes(`\`${k}\``));
    assert.deepEqual(missing, [], `keys missing from docs/train.md: ${missing.join(', ')}`);
  });
});
