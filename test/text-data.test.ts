// Text datasets, sequences and MLM masking, then BERT evaluation (masked LM and
// classification) checked against sums computed from the model's own logits, and the
// text branch of `otfuse eval`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../lib/io/model-folder.ts';
import { bertFromModel, type BertModel } from '../lib/models/bert.ts';
import { evaluateMaskedLm, evaluateTextClassifier } from '../lib/text-eval.ts';
import { sliceBatch } from '../lib/text/batch.ts';
import { openTextDataset, parseExamples } from '../lib/text/dataset.ts';
import { maskTokens } from '../lib/text/mlm-masking.ts';
import { encodeExamples, encodeExamplesAsync } from '../lib/text/sequences.ts';
import { BertTokenizer } from '../lib/text/tokenizer.ts';
import { Vocabulary } from '../lib/text/vocab.ts';
import { expectInputError } from './helpers/expect-error.ts';
import { fixture } from './helpers/fixtures.ts';

const MLM = fixture('bert-torch', 'mlm');
const CLASSIFIER = fixture('bert-torch', 'classifier');
const LINES = fixture('text', 'lines');
const LABELLED = fixture('text', 'labelled');

async function bert(folder: string): Promise<{ model: BertModel; tokenizer: BertTokenizer }> {
  const model = await bertFromModel(await loadModel(folder));
  return { model, tokenizer: await BertTokenizer.fromFolder(folder, { vocabSize: model.config.vocabSize }) };
}

describe('text datasets', () => {
  it('reads lines or paragraphs, TAB pairs, CRLF and a BOM, with line numbers', () => {
    const text = '\uFEFFfirst line\r\nsecond\tpair part\r\n\r\n  \nthird\nfourth\n\n\nfifth';
    assert.deepEqual(parseExamples(text, 'lines'), [
      { text: 'first line', line: 1 }, { text: 'second', pair: 'pair part', line: 2 }, { text: 'third', line: 5 },
      { text: 'fourth', line: 6 }, { text: 'fifth', line: 9 },
    ].map((e) => (e.line === 1 ? { ...e, text: '\uFEFFfirst line' } : e)));
    assert.deepEqual(parseExamples('a\nb\n\nc\n d \n\n', 'paragraphs'), [{ text: 'a b', line: 1 }, { text: 'c d', line: 4 }]);
  });

  it('opens a split folder; labelled splits pair line N with label N', async () => {
    const test = await openTextDataset(LINES);
    assert.equal(test.examples.length, 4);
    assert.equal(test.examples[3].pair, 'here on the line.');
    assert.match(test.description, /test split, 4 lines/);
    const train = await openTextDataset(LINES, { split: 'train', unit: 'paragraphs' });
    assert.equal(train.examples.length, 3);
    assert.match(train.description, /train split, 3 paragraphs\)$/);
    // A file without blank lines read as paragraphs is one example; the description says what happened.
    const flat = mkdtempSync(join(tmpdir(), 'otfuse-flat-'));
    try {
      writeFileSync(join(flat, 'test.txt'), 'one cookie\nanother\nand a third\n');
      const whole = await openTextDataset(flat, { unit: 'paragraphs' });
      assert.equal(whole.examples.length, 1);
      assert.match(whole.description, /test split, 1 paragraph of all 3 lines: the file has no blank line; read by lines, it holds 3 examples\)$/);
    } finally {
      rmSync(flat, { recursive: true, force: true });
    }
    const names = ['negative', 'neutral', 'positive'];
    const labelled = await openTextDataset(LABELLED, { labels: { names, numClasses: 3 } });
    assert.deepEqual(labelled.examples.map((e) => e.label), [2, 1, 2, 0]);
    assert.equal(labelled.examples[2].pair, 'and the fusion rocks');
  });

  it('names the file and line of what is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otfuse-text-'));
    try {
      await expectInputError(() => openTextDataset(dir), /has no test split \(expected test\.txt\)/);
      await expectInputError(() => openTextDataset(join(dir, 'nope')), /is not a folder/);
      writeFileSync(join(dir, 'test.txt'), '\n \n');
      await expectInputError(() => openTextDataset(dir), /test\.txt: holds no examples/);
      writeFileSync(join(dir, 'test.txt'), Buffer.from([0x61, 0xff, 0x0a]));
      await expectInputError(() => openTextDataset(dir), /test\.txt: is not valid UTF-8 text/);
      writeFileSync(join(dir, 'test.txt'), 'good\nbad\n');
      const labels = { names: ['no', 'yes'], numClasses: 2 };
      await expectInputError(() => openTextDataset(dir, { labels }), /has no test\.labels beside test\.txt/);
      writeFileSync(join(dir, 'test.labels'), 'yes\n');
      await expectInputError(() => openTextDataset(dir, { labels }), /test\.labels: has 1 lines but .*test\.txt has 2/);
      writeFileSync(join(dir, 'test.labels'), 'yes\nmaybe\n');
      await expectInputError(() => openTextDataset(dir, { labels }), /test\.labels:2: label "maybe" is neither a class name nor an index below 2 \(classes: no, yes\)/);
      writeFileSync(join(dir, 'test.txt'), 'good\n\n');
      writeFileSync(join(dir, 'test.labels'), '1\n0\n');
      await expectInputError(() => openTextDataset(dir, { labels }), /test\.txt:2: is blank; in a labelled split every line is an example/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sequences and masking', () => {
  const tiny = new BertTokenizer(new Vocabulary(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', 'sat', 'on', 'mat']));
  const examples = parseExamples('the cat sat\non the mat\nthe the the the the the cat', 'lines');

  it('one sequence per example, truncated or refused with the line', () => {
    const seqs = encodeExamples(tiny, examples, { maxLength: 6 });
    assert.deepEqual(seqs.map((s) => s.ids), [[2, 5, 6, 7, 3], [2, 8, 5, 9, 3], [2, 5, 5, 5, 5, 3]]);
    assert.throws(() => encodeExamples(tiny, examples, { maxLength: 6, truncation: false, file: 'data/test.txt' }), /data\/test\.txt:3: has 9 tokens/);
  });

  it('packing keeps every token, in order, in full blocks wrapped in [CLS] ... [SEP]', () => {
    const seqs = encodeExamples(tiny, examples, { maxLength: 6, pack: true });
    assert.ok(seqs.slice(0, -1).every((s) => s.ids.length === 6));
    assert.ok(seqs.every((s) => s.ids[0] === 2 && s.ids[s.ids.length - 1] === 3));
    const stream = seqs.flatMap((s) => s.ids.slice(1, -1));
    assert.deepEqual(stream, [5, 6, 7, 3, 8, 5, 9, 3, 5, 5, 5, 5, 5, 5, 6]);
  });

  it('packs an example of any length (a whole file read as one paragraph)', () => {
    // 300,000 words: more ids than a spread call may pass as arguments.
    const huge = [{ text: Array.from({ length: 300_000 }, () => examples[0].text.split(' ')[0]).join(' '), line: 1 }];
    const seqs = encodeExamples(tiny, huge, { maxLength: 66, pack: true });
    assert.equal(seqs.length, Math.ceil(tiny.toIds(tiny.tokenize(huge[0].text)).length / 64));
    assert.ok(seqs.slice(0, -1).every((s) => s.ids.length === 66));
  });

  it('a limit gives the first sequences without tokenising the rest; the async form gives the same', async () => {
    for (const pack of [false, true]) {
      const all = encodeExamples(tiny, examples, { maxLength: 6, pack });
      for (const limit of [0, 1, 2, 10]) assert.deepEqual(encodeExamples(tiny, examples, { maxLength: 6, pack, limit }), all.slice(0, limit), `pack ${pack}, limit ${limit}`);
      assert.deepEqual(await encodeExamplesAsync(tiny, examples, { maxLength: 6, pack }), all);
    }
    // Over-long examples past the limit are never read, so never refused.
    assert.equal(encodeExamples(tiny, examples, { maxLength: 6, truncation: false, limit: 2 }).length, 2);
  });

  it('masks 15% of real, non-special tokens, 80/10/10, seeded and independent of batching', () => {
    // 400 sequences of 40 tokens, a quarter of each padding.
    const tok = new BertTokenizer(new Vocabulary(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 95 }, (_, i) => `w${i}`)]));
    const encodings = Array.from({ length: 400 }, (_, s) => ({ ids: [2, ...Array.from({ length: 28 }, (_, t) => 5 + ((s * 7 + t * 13) % 95)), 3], typeIds: new Array(30).fill(0) }));
    const batch = tok.pad(encodings, 40);
    const original = batch.ids.slice();
    const { inputs, labels } = maskTokens(batch, tok, { seed: 7 });
    assert.deepEqual(batch.ids, original); // the input is untouched
    let selected = 0, toMask = 0, kept = 0, special = 0;
    for (let r = 0; r < labels.length; r++) {
      const isSpecial = tok.isSpecial(original[r]);
      if (labels[r] === -100) {
        assert.equal(inputs.ids[r], original[r]);
        continue;
      }
      if (isSpecial || !batch.mask[r]) special++;
      selected++;
      assert.equal(labels[r], original[r]);
      if (inputs.ids[r] === 4) toMask++;
      else if (inputs.ids[r] === original[r]) kept++;
      else assert.ok(!tok.isSpecial(inputs.ids[r]), 'random replacements are ordinary tokens');
    }
    assert.equal(special, 0, 'special tokens and padding are never selected');
    const candidates = 400 * 28;
    assert.ok(Math.abs(selected / candidates - 0.15) < 0.015, `selected ${selected / candidates}`);
    assert.ok(Math.abs(toMask / selected - 0.8) < 0.03, `masked ${toMask / selected}`);
    // kept: 10% unchanged plus random replacements that drew their own token (1 in 95 of 10%).
    assert.ok(Math.abs(kept / selected - 0.1) < 0.025, `kept ${kept / selected}`);
    // The same seed masks the same way, batch by batch; another seed does not.
    const a = maskTokens(sliceBatch(batch, 0, 150), tok, { seed: 7 });
    const b = maskTokens(sliceBatch(batch, 150, 250), tok, { seed: 7, firstSequence: 150 });
    assert.deepEqual([...a.labels, ...b.labels], [...labels]);
    assert.deepEqual([...a.inputs.ids, ...b.inputs.ids], [...inputs.ids]);
    assert.notDeepEqual([...maskTokens(batch, tok, { seed: 8 }).labels], [...labels]);
  });
});

describe('BERT evaluation', () => {
  it('masked LM: loss, perplexity and accuracy equal sums over the masked tokens, for any batch size', async () => {
    const { model, tokenizer } = await bert(MLM);
    const data = await openTextDataset(LINES);
    const options = { maxLength: 16, maskSeed: 3, maskProbability: 0.4 };
    const result = await evaluateMaskedLm(model, tokenizer, data, { ...options, batchSize: 32 });
    const one = await evaluateMaskedLm(model, tokenizer, data, { ...options, batchSize: 1 });
    assert.ok(Math.abs(one.loss - result.loss) < 1e-6);
    assert.equal(one.accuracy, result.accuracy);
    assert.equal(one.maskedTokens, result.maskedTokens);
    // The same numbers from full logits.
    const batch = tokenizer.pad(encodeExamples(tokenizer, data.examples, { maxLength: 16 }));
    const { inputs, labels } = maskTokens(batch, tokenizer, { seed: 3, probability: 0.4 });
    const { logits } = await model.forward(inputs);
    const V = model.config.vocabSize;
    let sum = 0, n = 0, correct = 0;
    labels.forEach((label, r) => {
      if (label < 0) return;
      const row = logits!.subarray(r * V, (r + 1) * V);
      const m = Math.max(...row);
      sum += m + Math.log(row.reduce((s, z) => s + Math.exp(z - m), 0)) - row[label];
      if (row.indexOf(m) === label) correct++;
      n++;
    });
    assert.ok(n > 5);
    assert.equal(result.maskedTokens, n);
    assert.ok(Math.abs(result.loss - sum / n) < 1e-5);
    assert.ok(Math.abs(result.perplexity / Math.exp(sum / n) - 1) < 1e-5);
    assert.equal(result.accuracy, correct / n);
    assert.equal(result.sequences, 4);
    assert.equal(result.tokens, [...batch.mask].reduce((a, b) => a + b, 0));
  });

  it('classification: accuracy and mean loss over labelled examples', async () => {
    const { model, tokenizer } = await bert(CLASSIFIER);
    const data = await openTextDataset(LABELLED, { labels: { names: model.config.labelNames, numClasses: 3 } });
    const result = await evaluateTextClassifier(model, tokenizer, data, { maxLength: 24, batchSize: 3 });
    const batch = tokenizer.pad(encodeExamples(tokenizer, data.examples, { maxLength: 24 }));
    const labels = Int32Array.from(data.examples, (e) => e.label!);
    const { logits, losses } = await model.forward(batch, { labels });
    let correct = 0;
    labels.forEach((l, i) => {
      const row = [...logits!.subarray(i * 3, i * 3 + 3)];
      if (row.indexOf(Math.max(...row)) === l) correct++;
    });
    assert.equal(result.examples, 4);
    assert.equal(result.accuracy, correct / 4);
    assert.ok(Math.abs(result.meanLoss - losses!.reduce((a, b) => a + b, 0) / 4) < 1e-6);
  });

  it('refuses a max length beyond the positions and the wrong kind of model', async () => {
    const { model, tokenizer } = await bert(MLM);
    const data = await openTextDataset(LINES);
    await expectInputError(() => evaluateMaskedLm(model, tokenizer, data, { maxLength: 25 }), /max length \(--max-length, maxLength\): 25 is more than the model's 24 positions/);
    await expectInputError(() => evaluateTextClassifier(model, tokenizer, data, { maxLength: 16 }), /not a sequence classifier/);
    await expectInputError(() => evaluateMaskedLm(model, tokenizer, data, { maxLength: 4, truncation: false }), /test\.txt:1: has \d+ tokens with \[CLS\] and \[SEP\], more than the maximum length 4/);
  });
});

describe('otfuse eval on BERT', function () {
  this.timeout(30000);
  const root = fixture('..', '..');
  const otfuse = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'otfuse.js'), ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const inputError = (r: ReturnType<typeof otfuse>, pattern: RegExp) => {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };

  it('reports MLM loss, perplexity and accuracy, and classification accuracy', () => {
    const r = otfuse('eval', MLM, '--data', LINES, '--max-length', '16', '--mask-seed', '1', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.maxLength, 16);
    assert.equal(report.sequences, 4);
    assert.ok(report.maskedTokens > 0 && report.loss > 0 && Math.abs(report.perplexity - Math.exp(report.loss)) < 1e-6 * report.perplexity);
    const again = JSON.parse(otfuse('eval', MLM, '--data', LINES, '--max-length', '16', '--mask-seed', '1', '--json').stdout);
    assert.equal(again.loss, report.loss); // the seed fixes the masking
    const text = otfuse('eval', MLM, '--data', LINES, '--split', 'train', '--examples', 'paragraphs', '--pack');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /mlm loss +\d+\.\d+ \(perplexity \d+\.\d+\) over \d+ masked tokens/);
    const c = otfuse('eval', CLASSIFIER, '--data', LABELLED);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /accuracy +\d+\.\d+% of 4 examples/);
  });

  it('names what does not fit', () => {
    inputError(otfuse('eval', MLM, '--data', LINES, '--max-length', '100'), /--max-length, maxLength\): 100 is more than the model's 24 positions/);
    inputError(otfuse('eval', MLM, '--data', LINES, '--max-length', '5', '--overlong', 'refuse'), /test\.txt:1: has \d+ tokens/);
    inputError(otfuse('eval', MLM, '--data', LINES, '--split', 'dev'), /--split: expected test, train or validation/);
    inputError(otfuse('eval', MLM, '--data', LINES, '--max-length', '16', '--mask-seed', '3'), /no token was masked/);
    inputError(otfuse('eval', CLASSIFIER, '--data', LINES), /has no test\.labels beside test\.txt/);
    const dir = mkdtempSync(join(tmpdir(), 'otfuse-bert-'));
    try {
      cpSync(MLM, dir, { recursive: true });
      rmSync(join(dir, 'vocab.txt'));
      inputError(otfuse('eval', dir, '--data', LINES), /has no vocab\.txt/);
      writeFileSync(join(dir, 'vocab.txt'), '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n');
      inputError(otfuse('eval', dir, '--data', LINES), /vocab\.txt: has 5 tokens but config\.json's vocab_size is 212/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
