// The fortunes corpus preparer on a small stand-in for /usr/share/games/fortunes (the
// tests do not need the Debian package): cookie parsing and cleaning, skipped files,
// duplicates, a seeded stable split, and the errors a user meets.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanCookie, parseFortuneFile, prepareFortunes } from '../lib/text/corpus/fortunes.ts';
import { openTextDataset } from '../lib/text/dataset.ts';
import { expectInputError } from './helpers/expect-error.ts';

describe('fortunes corpus', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'otfuse-fortunes-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses cookies between % lines, joining lines and removing overstrikes and controls', () => {
    assert.equal(cleanCookie('  Two\n\tlines  here \n'), 'Two lines here');
    assert.equal(cleanCookie('_\bb_\bo_\bl_\bd text\x07!'), 'bold text !');
    assert.deepEqual(parseFortuneFile('first\ncookie\n%\n\n%\nsecond -- Someone\n%\n'), ['first cookie', 'second -- Someone']);
  });

  it('writes train.txt, test.txt and SOURCE.md: one cookie per line, no duplicates, a stable split', async () => {
    const source = join(dir, 'fortunes');
    mkdirSync(source);
    const cookies = Array.from({ length: 400 }, (_, i) => `Cookie number ${i} says\nsomething wise.`);
    writeFileSync(join(source, 'wisdom'), cookies.slice(0, 250).join('\n%\n') + '\n%\n');
    writeFileSync(join(source, 'people'), [...cookies.slice(250), cookies[0]].join('\n%\n'));
    writeFileSync(join(source, 'wisdom.dat'), Buffer.from([0, 1, 2, 3]));
    symlinkSync('wisdom', join(source, 'wisdom.u8'));
    writeFileSync(join(source, 'ascii-art'), '  /\\_/\\\n ( o.o )\n%\n');
    const out = join(dir, 'corpus');
    const result = await prepareFortunes(out, { source, testFraction: 0.1, seed: 5 });
    assert.equal(result.files.length, 2);
    assert.equal(result.duplicates, 1);
    assert.equal(result.train + result.test, 400);
    assert.ok(result.test > 20 && result.test < 70, `test has ${result.test}`);
    const train = await openTextDataset(out, { split: 'train' });
    const test = await openTextDataset(out);
    assert.equal(train.examples.length, result.train);
    assert.ok(test.examples.every((e) => /^Cookie number \d+ says something wise\.$/.test(e.text)));
    assert.match(readFileSync(join(out, 'SOURCE.md'), 'utf8'), /400 distinct cookies \(1 duplicates dropped\)/);
    // The same seed splits the same way; another seed differently; the folder is not overwritten silently.
    await expectInputError(() => prepareFortunes(out, { source, testFraction: 0.1, seed: 5 }), /already exists; pass --force/);
    await prepareFortunes(out, { source, testFraction: 0.1, seed: 5, force: true });
    assert.deepEqual((await openTextDataset(out)).examples.map((e) => e.text), test.examples.map((e) => e.text));
    await prepareFortunes(out, { source, testFraction: 0.1, seed: 6, force: true });
    assert.notDeepEqual((await openTextDataset(out)).examples.map((e) => e.text), test.examples.map((e) => e.text));
  });

  it('says how to get the corpus when it is missing', async () => {
    await expectInputError(() => prepareFortunes(join(dir, 'out'), { source: join(dir, 'none') }), /install the Debian package 'fortunes' \(apt-get install fortunes\)/);
    await expectInputError(() => prepareFortunes(join(dir, 'out'), { source: dir, testFraction: 1.5 }), /--test-fraction: must be between 0 and 1/);
  });
});
