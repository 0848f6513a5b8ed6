// The WordPiece tokenizer: hand-derived tokenisations on a tiny vocabulary, agreement
// with an independent Python implementation (test/fixtures/wordpiece) on tricky strings
// in both cases, pairs and truncation, padding, and the model-folder files it reads.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../lib/errors.ts';
import { BertTokenizer } from '../lib/text/tokenizer.ts';
import { parseVocab, Vocabulary } from '../lib/text/vocab.ts';
import { expectInputError } from './helpers/expect-error.ts';
import { fixture } from './helpers/fixtures.ts';

const TINY = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '##aff', '##able', 'the', 'cat', '##s', 'sat', '!', ',', 'play', '##ing', '##ed'];
const tiny = () => new BertTokenizer(new Vocabulary(TINY));

describe('WordPiece tokenizer', () => {
  it('splits by the algorithm: longest match first, ## continuations, [UNK] for whole words', () => {
    const t = tiny();
    // Worked by hand: "the" (8); "cats" = "cat" (9) + "##s" (10); "sat" (11); "!" (12).
    assert.deepEqual(t.toIds(t.tokenize('The cats sat!')), [8, 9, 10, 11, 12]);
    assert.deepEqual(t.tokenize('unaffable'), ['un', '##aff', '##able']);
    // "playing," -> play ##ing , ; "played" -> play ##ed
    assert.deepEqual(t.toIds(t.tokenize('playing, played')), [14, 15, 13, 14, 16]);
    // No entry starts "dogs"; "catsx" matches cat ##s but then no "##x": both whole words are [UNK].
    assert.deepEqual(t.toIds(t.tokenize('dogs catsx cat')), [1, 1, 9]);
    // Special tokens in the text stay whole; unknown tokens map to [UNK].
    assert.deepEqual(t.toIds(t.tokenize('the [MASK] sat')), [8, 4, 11]);
    assert.deepEqual(t.toIds(['cat', 'nope']), [9, 1]);
    assert.equal(t.decode([2, 9, 10, 11, 3]), '[CLS] cats sat [SEP]');
    assert.equal(t.decode([2, 9, 10, 11, 3], { skipSpecial: true }), 'cats sat');
  });

  it('builds [CLS] A [SEP] B [SEP] with token types, truncating longest first', () => {
    const t = tiny();
    assert.deepEqual(t.encode('The cat', 'sat!', { maxLength: 8 }), { ids: [2, 8, 9, 3, 11, 12, 3], typeIds: [0, 0, 0, 0, 1, 1, 1] });
    // A has 4 tokens, B 2, room for 4: A loses two.
    assert.deepEqual(t.encode('the cats sat', 'the cat', { maxLength: 7 }).ids, [2, 8, 9, 3, 8, 9, 3]);
    // A tie takes from B.
    assert.deepEqual(t.encode('the cat', 'the cat', { maxLength: 6 }).ids, [2, 8, 9, 3, 8, 3]);
    assert.deepEqual(t.encode('the cats sat', undefined, { maxLength: 4 }), { ids: [2, 8, 9, 3], typeIds: [0, 0, 0, 0] });
    assert.throws(() => t.encode('the cats sat', undefined, { maxLength: 4, truncation: false, source: 'data/test.txt:3' }),
      (e) => e instanceof InputError && /data\/test.txt:3: has 6 tokens with \[CLS\] and \[SEP\], more than the maximum length 4/.test(e.message));
    assert.throws(() => t.encode('cat', 'cat', { maxLength: 3 }), /at least 4/);
  });

  it('pads batches on the right with [PAD] and an attention mask', () => {
    const t = tiny();
    const batch = t.pad([t.encode('the cat', undefined, { maxLength: 8 }), t.encode('cats', 'sat', { maxLength: 8 })]);
    assert.equal(batch.tokens, 6);
    assert.deepEqual([...batch.ids], [2, 8, 9, 3, 0, 0, 2, 9, 10, 3, 11, 3]);
    assert.deepEqual([...batch.mask], [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
    assert.deepEqual([...batch.typeIds], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    assert.equal(t.pad([t.encode('cat', undefined, { maxLength: 8 })], 8).tokens, 8);
  });

  describe('agrees with an independent Python implementation (fixtures/wordpiece)', () => {
    const vocab = parseVocab(readFileSync(fixture('wordpiece', 'vocab.txt'), 'utf8'), 'vocab.txt');
    const expected = JSON.parse(readFileSync(fixture('wordpiece', 'expected.json'), 'utf8')) as Record<string, Array<{ text: string; tokens: string[]; ids: number[] }>>;
    for (const [name, lowerCase] of [['uncased', true], ['cased', false]] as const) {
      it(`${name}: ${expected[name].length} tricky strings (accents, CJK, controls, punctuation, long words)`, () => {
        const t = new BertTokenizer(vocab, { lowerCase });
        for (const { text, tokens, ids } of expected[name]) {
          assert.deepEqual(t.tokenize(text), tokens, JSON.stringify(text));
          assert.deepEqual(t.toIds(t.tokenize(text)), ids, JSON.stringify(text));
        }
      });
    }
  });
});

describe('tokenizer files of a model folder', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'otfuse-tok-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });
  const vocabText = TINY.join('\n') + '\n';

  it('reads vocab.txt with the uncased default, and the options of tokenizer_config.json', async () => {
    await writeFile(join(dir, 'vocab.txt'), vocabText);
    const t = await BertTokenizer.fromFolder(dir, { vocabSize: TINY.length });
    assert.equal(t.options.lowerCase, true);
    assert.deepEqual(t.tokenize('CAT'), ['cat']);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false, model_max_length: 128, mask_token: { content: '[MASK]' } }));
    const cased = await BertTokenizer.fromFolder(dir);
    assert.equal(cased.options.lowerCase, false);
    assert.equal(cased.options.modelMaxLength, 128);
    assert.deepEqual(cased.tokenize('CAT'), ['[UNK]']);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1e30 }));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ do_lower_case: false }));
    const fromConfig = await BertTokenizer.fromFolder(dir);
    assert.equal(fromConfig.options.lowerCase, false);
    assert.equal(fromConfig.options.modelMaxLength, undefined);
  });

  it('refuses a missing or malformed vocab.txt, a vocab_size that disagrees, and bad settings', async () => {
    await expectInputError(() => BertTokenizer.fromFolder(dir), /has no vocab\.txt/);
    await writeFile(join(dir, 'vocab.txt'), '');
    await expectInputError(() => BertTokenizer.fromFolder(dir), /vocab\.txt: is empty/);
    await writeFile(join(dir, 'vocab.txt'), '[PAD]\n\n[UNK]\n');
    await expectInputError(() => BertTokenizer.fromFolder(dir), /vocab\.txt:2: is empty/);
    await writeFile(join(dir, 'vocab.txt'), '[PAD]\n[UNK]\ncat\n[CLS]\ncat\n');
    await expectInputError(() => BertTokenizer.fromFolder(dir), /vocab\.txt:5: repeats the token "cat" of line 3/);
    await writeFile(join(dir, 'vocab.txt'), TINY.filter((t) => t !== '[MASK]').join('\n'));
    await expectInputError(() => BertTokenizer.fromFolder(dir), /vocab\.txt: has no mask token "\[MASK\]"/);
    await writeFile(join(dir, 'vocab.txt'), vocabText.replace(/\n/g, '\r\n'));
    assert.equal((await BertTokenizer.fromFolder(dir)).vocabSize, TINY.length); // Windows line ends
    await expectInputError(() => BertTokenizer.fromFolder(dir, { vocabSize: 30522 }), /has 17 tokens but config\.json's vocab_size is 30522/);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: 'yes' }));
    await expectInputError(() => BertTokenizer.fromFolder(dir), /tokenizer_config\.json: do_lower_case: must be true or false/);
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ unk_token: '<unk>' }));
    await expectInputError(() => BertTokenizer.fromFolder(dir), /has no unk token "<unk>"/);
  });
});
