// The programmatic API on BERTs: fuse() gives a model in the anchor's shape with the
// anchor's tokenizer, exact OT through the API gives a permuted copy's original back,
// evaluate() reports masked-LM metrics, and a saved fused model loads and scores the same.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, fuse, InputError, loadModel, saveModel } from '../lib/index.ts';
import { TINY_MLM, writeBert, writeText } from './helpers/bert-folders.ts';
import { bertRandomTensors } from './helpers/bert-reference.ts';
import { permuteBert } from './helpers/permute-bert.ts';

const root = join(import.meta.dirname, '..');
const FORTUNES = join(root, 'data', 'fortunes-short');

describe('programmatic API on BERTs', function () {
  this.timeout(60000);
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otfuse-api-bert-'));
    writeText(join(dir, 'text'), 3);
    const original = bertRandomTensors(TINY_MLM, 5);
    await writeBert(join(dir, 'original'), TINY_MLM, 0, original);
    await writeBert(join(dir, 'permuted'), TINY_MLM, 0, permuteBert(TINY_MLM, original, 11));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('fuses the bundled parents into the anchor\'s shape; evaluate() gives masked-LM loss and perplexity; the saved model scores the same', async () => {
    const [a, b] = await Promise.all([loadModel(join(root, 'models', 'fortunes', 'bert-a')), loadModel(join(root, 'models', 'fortunes', 'bert-b'))]);
    const stages = new Set<string>();
    const fused = await fuse([a, b], {
      data: FORTUNES,
      fusion: { acts: { num_samples: 16 } },
      dataOptions: { text: { max_length: 64, pack: true }, activations: { holdout_fraction: 0 } },
      onProgress: (stage) => stages.add(stage),
    });
    assert.deepEqual([...stages].sort(), ['activations', 'fusion', 'repair']);
    assert.equal(fused.maps[1].length, 0);
    assert.ok(fused.maps[0].some((m) => m.piece === 'word embeddings'));
    for (const [name, t] of b.tensors) if (fused.model.tensors.has(name)) assert.deepEqual(fused.model.tensors.get(name)!.shape, t.shape, name);
    assert.equal(fused.model.architecture, 'BertForMaskedLM');
    assert.equal(fused.model.tokenizer!['vocab.txt'], b.tokenizer!['vocab.txt']);
    const options = { data: FORTUNES, maxLength: 64, pack: true, limit: 24 };
    const result = await evaluate(fused.model, options);
    assert.ok(result.kind === 'masked-lm');
    assert.ok(result.maskedTokens > 0 && Number.isFinite(result.perplexity) && result.perplexity > 1);
    assert.ok(Math.abs(result.perplexity - Math.exp(result.loss)) < 1e-9 * result.perplexity);
    await saveModel(join(dir, 'fused'), fused.model);
    assert.ok(existsSync(join(dir, 'fused', 'vocab.txt')));
    const again = await evaluate(await loadModel(join(dir, 'fused')), options);
    assert.ok(again.kind === 'masked-lm' && Math.abs(again.loss - result.loss) < 1e-6);
  });

  it('gives a permuted copy\'s original weights back with exact OT', async () => {
    const [permuted, original] = await Promise.all([loadModel(join(dir, 'permuted')), loadModel(join(dir, 'original'))]);
    const fused = await fuse([permuted, original], {
      data: join(dir, 'text'),
      fusion: { ot_solver: 'emd', resid_policy: 'mean', repair: 'none', acts: { num_samples: 12 } },
      dataOptions: { text: { max_length: 12 }, activations: { holdout_fraction: 0 } },
    });
    let worst = { name: '', diff: 0 };
    for (const [name, t] of fused.model.tensors) {
      const want = original.tensors.get(name)!.data;
      for (let i = 0; i < t.data.length; i++) {
        const d = Math.abs(Number(t.data[i]) - Number(want[i]));
        if (d > worst.diff) worst = { name, diff: d };
      }
    }
    assert.ok(worst.diff < 1e-5, `${worst.name} differs by ${worst.diff}`);
    for (const m of fused.maps[0]) assert.ok(m.solver.startsWith('emd') && m.permutationScore > 0.999, JSON.stringify(m));
  });

  it('names what does not fit: mixed architectures, image options on a text model, a missing vocabulary', async () => {
    const bert = await loadModel(join(dir, 'original'));
    await assert.rejects(evaluate(bert, { data: join(dir, 'text'), mean: [0.5] }), (e) => e instanceof InputError && /^evaluate options: mean: is for hf_vit models/.test(e.message));
    const { tokenizer: _files, ...bare } = bert;
    await assert.rejects(evaluate({ ...bare, source: undefined }, { data: join(dir, 'text') }), (e) => e instanceof InputError && /^the model: has no vocab\.txt/.test(e.message));
    const vit = await loadModel(join(root, 'models', 'fashion-mnist', 'vit-a'));
    await assert.rejects(fuse([vit, bert], { data: join(dir, 'text') }), (e) => e instanceof InputError && /^the models: mix vit and bert models/.test(e.message));
    await assert.rejects(fuse([bert, bert], { data: join(dir, 'text'), dataOptions: { text: { max_length: 40 } } }), (e) => e instanceof InputError && /^data\.text\.max_length: 40 is more than/.test(e.message));
  });
});
