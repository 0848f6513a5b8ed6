import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preflightOutput, preflightOutputFile, writeFileAtomically, writeFolderAtomically } from '../../lib/io/atomic-folder.ts';
import { isAbortError } from '../../lib/errors.ts';
import { checkFiniteInSlices } from '../../lib/io/expected-weights.ts';
import { loadModel, saveModel, type Model } from '../../lib/io/model-folder.ts';
import { encodeSafetensors, readSafetensors } from '../../lib/io/safetensors.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { expectInputError } from '../helpers/expect-error.ts';
import { EXPECTED, fixture, valuesHash } from '../helpers/fixtures.ts';

/** A signal that counts how often it is checked (read `aborted`) and aborts itself at the `n`-th check: cancellation at a chosen safe point. */
function checkedSignal(n = Infinity): { signal: AbortSignal; checks: () => number } {
  const controller = new AbortController();
  const signal = controller.signal;
  const aborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;
  let checks = 0;
  Object.defineProperty(signal, 'aborted', {
    get() {
      if (++checks >= n && !aborted.call(signal)) controller.abort();
      return aborted.call(signal);
    },
  });
  return { signal, checks: () => checks };
}
const abortAtCheck = (n: number) => checkedSignal(n).signal;

/** Every file of a folder with its bytes' hash and modification time, to prove reads change nothing. */
function snapshot(folder: string): string[] {
  return readdirSync(folder).sort().map((name) => {
    const path = join(folder, name);
    return `${name} ${statSync(path).mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  });
}

function assertMatchesExpected(model: Model, expected: Record<string, { sha256: string; dtype: string }>, skip: string[] = []): void {
  for (const [name, want] of Object.entries(expected)) {
    if (skip.includes(name)) continue;
    const tensor = model.tensors.get(name);
    assert.ok(tensor, `tensor ${name}`);
    assert.equal(valuesHash(tensor), want.sha256, name);
  }
}

describe('model folders', () => {
  let scratch: string;
  beforeEach(() => { scratch = mkdtempSync(join(tmpdir(), 'otfuse-io-')); });
  afterEach(() => { rmSync(scratch, { recursive: true, force: true }); });

  /** A model folder from a config object and tensors. */
  function folderWith(name: string, config: unknown, tensors: Map<string, Tensor>): string {
    const folder = join(scratch, name);
    mkdirSync(folder);
    writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
    writeFileSync(join(folder, 'model.safetensors'), encodeSafetensors(tensors));
    return folder;
  }

  async function vitParts() {
    const model = await loadModel(fixture('vit-tiny-safetensors'));
    const config = JSON.parse(readFileSync(fixture('vit-tiny-safetensors', 'config.json'), 'utf8'));
    return { config, tensors: new Map(model.tensors) };
  }

  describe('loadModel', () => {
    const layouts: Array<[string, string, string, boolean, string[]]> = [
      ['vit-tiny-safetensors', 'vit-tiny', 'safetensors', false, ['model.safetensors']],
      ['vit-tiny-bin', 'vit-tiny', 'pytorch', false, ['pytorch_model.bin']],
      ['bert-tiny-bin', 'bert-tiny', 'pytorch', false, ['pytorch_model.bin']],
      ['bert-tiny-bin-sharded', 'bert-tiny', 'pytorch', true, ['pytorch_model.bin.index.json', 'pytorch_model-00001-of-00003.bin', 'pytorch_model-00002-of-00003.bin', 'pytorch_model-00003-of-00003.bin']],
      ['bert-tiny-safetensors-sharded', 'bert-tiny', 'safetensors', true, ['model.safetensors.index.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']],
    ];
    for (const [folder, values, format, sharded, files] of layouts) {
      it(`reads ${folder} (${format}${sharded ? ', sharded' : ''}) without changing it`, async () => {
        const before = snapshot(fixture(folder));
        const model = await loadModel(fixture(folder));
        assert.deepEqual(snapshot(fixture(folder)), before);
        assert.equal(model.source!.format, format);
        assert.equal(model.source!.sharded, sharded);
        assert.deepEqual(model.source!.files, files);
        assertMatchesExpected(model, EXPECTED[values], folder.includes('safetensors-sharded') ? ['cls.predictions.decoder.weight', 'cls.predictions.decoder.bias'] : []);
        assert.equal(model.architecture, values === 'vit-tiny' ? 'ViTForImageClassification' : 'BertForMaskedLM');
        assert.equal(model.source!.storedDtypes.get(values === 'vit-tiny' ? 'classifier.weight' : 'bert.embeddings.position_ids'), values === 'vit-tiny' ? 'F32' : 'I64');
        assert.deepEqual(model.source!.unexpectedTensors, []);
      });
    }

    it('prefers safetensors when a folder has both formats', async () => {
      const folder = join(scratch, 'both');
      mkdirSync(folder);
      for (const file of ['config.json', 'model.safetensors']) copyFileSync(fixture('vit-tiny-safetensors', file), join(folder, file));
      copyFileSync(fixture('vit-tiny-bin', 'pytorch_model.bin'), join(folder, 'pytorch_model.bin'));
      const model = await loadModel(folder);
      assert.equal(model.source!.format, 'safetensors');
    });

    it('widens F16 and BF16 weights to F32 in memory and records the stored dtype', async () => {
      const { config, tensors } = await vitParts();
      const half = new Uint16Array(8).fill(0x3c00);
      const bf16 = new Uint16Array(3 * 8).fill(0x3f80);
      const bytes = encodeSafetensors(tensors);
      // Rewrite two tensors as 16-bit through a raw header.
      const file = await readSafetensors(bytes);
      const entries = [...file.tensors].filter(([n]) => n !== 'classifier.bias' && n !== 'classifier.weight');
      const header: Record<string, unknown> = {};
      const chunks: Buffer[] = [];
      let offset = 0;
      for (const [name, t] of entries) {
        const data = Buffer.from((t.data as Float32Array).buffer);
        header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + data.length] };
        chunks.push(data);
        offset += data.length;
      }
      header['classifier.weight'] = { dtype: 'BF16', shape: [3, 8], data_offsets: [offset, offset + 48] };
      header['classifier.bias'] = { dtype: 'F16', shape: [3], data_offsets: [offset + 48, offset + 54] };
      chunks.push(Buffer.from(bf16.buffer), Buffer.from(half.buffer, 0, 6));
      const text = Buffer.from(JSON.stringify(header));
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(text.length));
      const folder = join(scratch, 'half');
      mkdirSync(folder);
      writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
      writeFileSync(join(folder, 'model.safetensors'), Buffer.concat([prefix, text, ...chunks]));

      const model = await loadModel(folder);
      assert.equal(model.tensors.get('classifier.weight')!.dtype, 'F32');
      assert.deepEqual(Array.from(model.tensors.get('classifier.bias')!.data as Float32Array), [1, 1, 1]);
      assert.equal(model.source!.storedDtypes.get('classifier.weight'), 'BF16');
      assert.equal(model.source!.storedDtypes.get('classifier.bias'), 'F16');
      const out = join(scratch, 'half-out');
      await saveModel(out, model);
      const saved = await readSafetensors(join(out, 'model.safetensors'));
      assert.equal(saved.storedDtypes.get('classifier.weight'), 'F32');
    });

    it('works out the architecture from tensor names when config.json lists none', async () => {
      const { config, tensors } = await vitParts();
      delete config.architectures;
      assert.equal((await loadModel(folderWith('noarch', config, tensors))).architecture, 'ViTForImageClassification');
      const base = new Map([...tensors].filter(([n]) => n.startsWith('vit.')).map(([n, t]) => [n.slice(4), t]));
      base.set('pooler.dense.weight', { dtype: 'F32', shape: [8, 8], data: new Float32Array(64) });
      base.set('pooler.dense.bias', { dtype: 'F32', shape: [8], data: new Float32Array(8) });
      assert.equal((await loadModel(folderWith('base', config, base))).architecture, 'ViTModel');
    });

    describe('refuses broken folders with one InputError naming the folder or file', () => {
      it('a folder that does not exist', async () => {
        await expectInputError(() => loadModel(join(scratch, 'nope')), /nope: model folder does not exist/);
      });
      it('a file instead of a folder', async () => {
        writeFileSync(join(scratch, 'file'), 'x');
        await expectInputError(() => loadModel(join(scratch, 'file')), /file: is not a folder/);
      });
      it('a folder without config.json', async () => {
        mkdirSync(join(scratch, 'empty'));
        await expectInputError(() => loadModel(join(scratch, 'empty')), /empty: has no config\.json/);
      });
      it('a folder without weights', async () => {
        mkdirSync(join(scratch, 'cfg'));
        copyFileSync(fixture('vit-tiny-bin', 'config.json'), join(scratch, 'cfg', 'config.json'));
        await expectInputError(() => loadModel(join(scratch, 'cfg')), /cfg: has no weights \(looked for model\.safetensors, /);
      });
      it('a missing tensor', async () => {
        const { config, tensors } = await vitParts();
        tensors.delete('vit.encoder.layer.1.output.dense.weight');
        await expectInputError(() => loadModel(folderWith('m', config, tensors)), /model\.safetensors: tensor "vit\.encoder\.layer\.1\.output\.dense\.weight" is missing \(config\.json describes a ViTForImageClassification with 2 layers and hidden size 8\)/);
      });
      it('a shape that disagrees with config.json', async () => {
        const { config, tensors } = await vitParts();
        config.intermediate_size = 32;
        await expectInputError(() => loadModel(folderWith('m', config, tensors)), /tensor "vit\.encoder\.layer\.0\.intermediate\.dense\.weight" has shape 16 x 8 but config\.json implies 32 x 8/);
      });
      it('more encoder layers than config.json says', async () => {
        const { config, tensors } = await vitParts();
        config.num_hidden_layers = 1;
        await expectInputError(() => loadModel(folderWith('m', config, tensors)), /tensor "vit\.encoder\.layer\.1\..*" belongs to encoder layer 1 but config\.json has num_hidden_layers 1/);
      });
      it('a config claiming a billion layers (fails at the first missing one, at once)', async () => {
        const { config, tensors } = await vitParts();
        config.num_hidden_layers = 1_000_000_000;
        const started = performance.now();
        await expectInputError(() => loadModel(folderWith('m', config, tensors)), /tensor "vit\.encoder\.layer\.2\.attention\.attention\.query\.weight" is missing/);
        assert.ok(performance.now() - started < 1000);
      });
      it('integer values where weights belong', async () => {
        const { config, tensors } = await vitParts();
        tensors.set('classifier.bias', { dtype: 'I32', shape: [3], data: new Int32Array(3) });
        await expectInputError(() => loadModel(folderWith('m', config, tensors)), /tensor "classifier\.bias" holds I32 values; weights must be floating point/);
      });
      for (const [what, value, word] of [['NaN', NaN, 'NaN'], ['infinity', -Infinity, '-Infinity']] as const) {
        it(`a weight holding ${what}`, async () => {
          const { config, tensors } = await vitParts();
          const t = tensors.get('vit.layernorm.weight')!;
          const data = Float32Array.from(t.data as Float32Array);
          data[5] = value;
          tensors.set('vit.layernorm.weight', { ...t, data });
          await expectInputError(() => loadModel(folderWith('m', config, tensors)), new RegExp(`tensor "vit\\.layernorm\\.weight" contains ${word} \\(element 5 of 8\\)`));
        });
      }
      it('an index naming a shard that is not there', async () => {
        const folder = join(scratch, 's');
        mkdirSync(folder);
        copyFileSync(fixture('bert-tiny-bin', 'config.json'), join(folder, 'config.json'));
        writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors' } }));
        await expectInputError(() => loadModel(folder), /model\.safetensors\.index\.json: names shard "model-00001-of-00002\.safetensors", which is not in the folder/);
      });
      it('an index pointing outside the folder', async () => {
        const folder = join(scratch, 's');
        mkdirSync(folder);
        copyFileSync(fixture('bert-tiny-bin', 'config.json'), join(folder, 'config.json'));
        writeFileSync(join(folder, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
        await expectInputError(() => loadModel(folder), /must name a file in the model folder/);
      });
      it('an index that places a tensor in the wrong shard', async () => {
        const folder = join(scratch, 's');
        mkdirSync(folder);
        for (const file of readdirSync(fixture('bert-tiny-safetensors-sharded'))) copyFileSync(fixture('bert-tiny-safetensors-sharded', file), join(folder, file));
        const index = JSON.parse(readFileSync(join(folder, 'model.safetensors.index.json'), 'utf8'));
        index.weight_map['bert.embeddings.position_ids'] = 'model-00003-of-00003.safetensors';
        writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify(index));
        await expectInputError(() => loadModel(folder), /says tensor "bert\.embeddings\.position_ids" is in model-00003-of-00003\.safetensors, but it is not there/);
      });
      it('a tensor stored in two shards', async () => {
        const folder = join(scratch, 's');
        mkdirSync(folder);
        for (const file of readdirSync(fixture('bert-tiny-safetensors-sharded'))) copyFileSync(fixture('bert-tiny-safetensors-sharded', file), join(folder, file));
        copyFileSync(join(folder, 'model-00001-of-00003.safetensors'), join(folder, 'model-00002-of-00003.safetensors'));
        await expectInputError(() => loadModel(folder), /model-00002-of-00003\.safetensors: tensor ".*" is also in model-00001-of-00003\.safetensors/);
      });
      it('a hostile pickle in a model folder', async () => {
        const folder = join(scratch, 'h');
        mkdirSync(folder);
        copyFileSync(fixture('bert-tiny-bin', 'config.json'), join(folder, 'config.json'));
        copyFileSync(fixture('hostile.bin'), join(folder, 'pytorch_model.bin'));
        await expectInputError(() => loadModel(folder), /pytorch_model\.bin: pickle references the forbidden global posix\.system/);
      });
    });
  });

  describe('loadModel cancellation', () => {
    for (const folder of ['vit-tiny-safetensors', 'vit-tiny-bin', 'bert-tiny-safetensors-sharded', 'bert-tiny-bin-sharded']) {
      it(`${folder}: an abort rejects with an AbortError at the first, a middle and the last safe point`, async () => {
        const before = snapshot(fixture(folder));
        await assert.rejects(loadModel(fixture(folder), { signal: AbortSignal.abort() }), isAbortError);
        await assert.rejects(loadModel(fixture(folder), { signal: abortAtCheck(3) }), isAbortError);
        // Count the safe points of a whole load, then abort at the last one.
        const counting = checkedSignal();
        await loadModel(fixture(folder), { signal: counting.signal });
        const checks = counting.checks();
        assert.ok(checks >= 3, `${checks} safe points`);
        await assert.rejects(loadModel(fixture(folder), { signal: abortAtCheck(checks) }), isAbortError);
        assert.deepEqual(snapshot(fixture(folder)), before);
      });
    }
    it('rejects with an AbortError whatever the signal was aborted with, its reason the cause', async () => {
      const reason = new Error('user quit');
      const err = await loadModel(fixture('vit-tiny-bin'), { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
      assert.ok(isAbortError(err), String(err));
      assert.equal((err as { cause?: unknown }).cause, reason);
      const timeout = AbortSignal.timeout(1);
      await new Promise((done) => setTimeout(done, 20));
      await assert.rejects(saveModel(join(scratch, 'out'), await loadModel(fixture('vit-tiny-bin')), { signal: timeout }), isAbortError);
      assert.deepEqual(readdirSync(scratch), []);
    });
    it('refuses an option it does not know, naming it', async () => {
      await expectInputError(() => loadModel(fixture('vit-tiny-bin'), { checkfinite: false } as never), /loadModel options.*checkfinite/);
      await expectInputError(() => loadModel(''), /loadModel: folder: must be a non-empty path/);
      await expectInputError(() => loadModel(fixture('vit-tiny-bin'), { signal: 5 } as never), /loadModel options: signal: must be an AbortSignal, got number/);
      await expectInputError(() => loadModel(fixture('vit-tiny-bin'), { checkFinite: 'no' } as never), /loadModel options: checkFinite: must be true or false, got "no"/);
      const model = await loadModel(fixture('vit-tiny-bin'));
      await expectInputError(() => saveModel(join(scratch, 'out'), model, { signal: 'x' } as never), /saveModel options: signal: must be an AbortSignal, got string/);
      assert.deepEqual(readdirSync(scratch), []);
    });
  });

  describe('the finite check in slices', () => {
    it('finds a NaN past the first slice and names its element, letting the event loop run meanwhile', async () => {
      const data = new Float32Array(3_500_000).fill(0.5);
      data[2_600_001] = NaN;
      const tensors = new Map<string, Tensor>([['small', { dtype: 'F32', shape: [4], data: new Float32Array(4) }], ['big', { dtype: 'F32', shape: [data.length], data }]]);
      let settled = false;
      let ranMeanwhile = false;
      setImmediate(() => { ranMeanwhile = !settled; });
      await expectInputError(async () => {
        try { await checkFiniteInSlices(tensors, 'weights.safetensors'); } finally { settled = true; }
      }, /weights\.safetensors: tensor "big" contains NaN \(element 2600001 of 3500000\)/);
      assert.ok(ranMeanwhile, 'a callback queued before the check ran while it was under way');
      data[2_600_001] = 1;
      await checkFiniteInSlices(tensors, 'weights.safetensors');
      await assert.rejects(checkFiniteInSlices(tensors, 'weights.safetensors', abortAtCheck(2)), isAbortError);
    });
  });

  describe('saveModel', () => {
    it('writes a folder that loads back to the same model, with HF metadata', async () => {
      const model = await loadModel(fixture('bert-tiny-bin'));
      const out = join(scratch, 'out');
      const saved = await saveModel(out, model);
      assert.deepEqual(saved.files, ['config.json', 'model.safetensors']);
      assert.deepEqual(readdirSync(scratch), ['out']);
      assert.deepEqual(readdirSync(out).sort(), ['config.json', 'model.safetensors']);
      const back = await loadModel(out);
      assert.deepEqual(back.tensors, model.tensors);
      assert.deepEqual(back.config, model.config);
      assert.equal(back.architecture, 'BertForMaskedLM');
      assert.deepEqual((await readSafetensors(join(out, 'model.safetensors'))).metadata, { format: 'pt' });
      const original = JSON.parse(readFileSync(fixture('bert-tiny-bin', 'config.json'), 'utf8'));
      assert.deepEqual(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), original);
    });

    it('shards above the size limit with an HF index, and loads the shards back', async () => {
      const model = await loadModel(fixture('vit-tiny-bin'));
      const out = join(scratch, 'sharded');
      const saved = await saveModel(out, model, { maxShardSize: '2KB' });
      const shards = saved.files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
      assert.ok(shards.length >= 3, `expected several shards, got ${saved.files.join(', ')}`);
      for (const shard of shards) {
        const size = statSync(join(out, shard)).size;
        const file = await readSafetensors(join(out, shard));
        const data = [...file.tensors.values()].reduce((s, t) => s + t.data.byteLength, 0);
        assert.ok(data <= 2000 || file.tensors.size === 1, `${shard} holds ${data} bytes of tensors (${size} on disk)`);
      }
      const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
      assert.equal(index.metadata.total_size, [...model.tensors.values()].reduce((s, t) => s + t.data.byteLength, 0));
      assert.deepEqual(Object.keys(index.weight_map), [...model.tensors.keys()].sort());
      const back = await loadModel(out);
      assert.equal(back.source!.sharded, true);
      assert.deepEqual(back.tensors, model.tensors);
    });

    it('refuses an existing output unless forced, then replaces it whole', async () => {
      const model = await loadModel(fixture('vit-tiny-bin'));
      const out = join(scratch, 'out');
      mkdirSync(out);
      writeFileSync(join(out, 'old-file.txt'), 'old');
      await expectInputError(() => saveModel(out, model), /out: output folder already exists; pass --force to replace it/);
      assert.deepEqual(readdirSync(out), ['old-file.txt']);
      await saveModel(out, model, { force: true });
      assert.deepEqual(readdirSync(out).sort(), ['config.json', 'model.safetensors']);
      assert.deepEqual(readdirSync(scratch), ['out'], 'no temporary or set-aside folders remain');
    });

    it('refuses to replace the folder a model was read from, or a folder holding it', async () => {
      const folder = join(scratch, 'parent', 'model');
      mkdirSync(join(scratch, 'parent'));
      mkdirSync(folder);
      for (const file of readdirSync(fixture('vit-tiny-bin'))) copyFileSync(fixture('vit-tiny-bin', file), join(folder, file));
      const model = await loadModel(folder);
      const before = snapshot(folder);
      await expectInputError(() => saveModel(folder, model, { force: true }), /would replace the input model folder/);
      await expectInputError(() => saveModel(join(scratch, 'parent'), model, { force: true }), /would replace the input model folder/);
      await expectInputError(() => saveModel(join(scratch, 'x'), model, { force: true, protectedFolders: [join(scratch, 'x')] }), /would replace the input model folder/);
      assert.deepEqual(snapshot(folder), before);
    });

    it('refuses a destination that is a file', async () => {
      writeFileSync(join(scratch, 'f'), 'x');
      await expectInputError(async () => saveModel(join(scratch, 'f'), await loadModel(fixture('vit-tiny-bin')), { force: true }), /exists and is a file/);
    });

    it('refuses to write a model whose tensors do not fit its config', async () => {
      const model = await loadModel(fixture('vit-tiny-bin'));
      model.tensors.delete('classifier.bias');
      await expectInputError(() => saveModel(join(scratch, 'out'), model), /tensor "classifier\.bias" is missing/);
      assert.deepEqual(readdirSync(scratch), []);
    });

    it('an abort while writing rejects with an AbortError and leaves nothing, or the old folder, behind', async () => {
      const model = await loadModel(fixture('vit-tiny-bin'));
      const out = join(scratch, 'out');
      await assert.rejects(saveModel(out, model, { signal: AbortSignal.abort() }), isAbortError);
      assert.deepEqual(readdirSync(scratch), []);
      for (const [checks, maxShardSize] of [[4, '5GB'], [12, '2KB']] as const) {
        await assert.rejects(saveModel(out, model, { signal: abortAtCheck(checks), maxShardSize }), isAbortError);
        assert.deepEqual(readdirSync(scratch), [], `abort at check ${checks} (${maxShardSize} shards)`);
      }
      mkdirSync(out);
      writeFileSync(join(out, 'keep.txt'), 'keep');
      await assert.rejects(saveModel(out, model, { force: true, signal: abortAtCheck(5) }), isAbortError);
      assert.deepEqual(readdirSync(scratch), ['out']);
      assert.deepEqual(readdirSync(out), ['keep.txt']);
    });

    it('creates missing parent folders', async () => {
      await saveModel(join(scratch, 'a', 'b', 'out'), await loadModel(fixture('vit-tiny-bin')));
      assert.ok(existsSync(join(scratch, 'a', 'b', 'out', 'model.safetensors')));
    });
  });

  describe('atomic folders', () => {
    it('a failure while writing leaves nothing behind', async () => {
      const out = join(scratch, 'out');
      await assert.rejects(writeFolderAtomically(out, {}, async (temp) => {
        writeFileSync(join(temp, 'half.bin'), 'partial');
        throw new Error('disk full');
      }), /disk full/);
      assert.deepEqual(readdirSync(scratch), []);
    });

    it('a failure while replacing keeps the old folder intact', async () => {
      const out = join(scratch, 'out');
      mkdirSync(out);
      writeFileSync(join(out, 'keep.txt'), 'keep');
      await assert.rejects(writeFolderAtomically(out, { force: true }, async (temp) => {
        writeFileSync(join(temp, 'new.txt'), 'new');
        throw new Error('interrupted');
      }), /interrupted/);
      assert.deepEqual(readdirSync(scratch), ['out']);
      assert.deepEqual(readdirSync(out), ['keep.txt']);
    });

    it('preflight refuses, before any work, every output that could not or must not be written', async () => {
      const parent = join(scratch, 'models', 'parent');
      mkdirSync(parent, { recursive: true });
      writeFileSync(join(parent, 'config.json'), '{}');
      symlinkSync(join(scratch, 'models'), join(scratch, 'link'));
      writeFileSync(join(scratch, 'file.txt'), 'x');
      const protectedFolders = [parent];
      await expectInputError(() => preflightOutput('', { force: true }), /^--output: the output folder must be a non-empty path/);
      await expectInputError(() => preflightOutput('.', { force: true }), /would replace the current folder or a folder that holds it/);
      await expectInputError(() => preflightOutput('/', { force: true }), /would replace the current folder or a folder that holds it/);
      // The parent itself, through a link to its folder, a folder that holds it, and one inside it.
      await expectInputError(() => preflightOutput(join(scratch, 'link', 'parent'), { force: true, protectedFolders }), /would replace the input model folder/);
      await expectInputError(() => preflightOutput(join(scratch, 'models'), { force: true, protectedFolders }), /would replace the input model folder/);
      await expectInputError(() => preflightOutput(join(parent, 'sub'), { force: true, protectedFolders }), /is inside the input model folder .*never modified/);
      await expectInputError(() => preflightOutput(join(scratch, 'file.txt'), { force: true }), /exists and is a file, not a folder/);
      await expectInputError(() => preflightOutput(join(scratch, 'models')), /output folder already exists; pass --force to replace it/);
      await expectInputError(() => preflightOutput('/proc/otfuse-test/out'), /cannot write here/);
      await preflightOutput(join(scratch, 'new', 'deeper', 'out'));
      assert.ok(!existsSync(join(scratch, 'new')), 'the probe leaves nothing behind');
      assert.deepEqual(readdirSync(parent), ['config.json']);
    });

    it('a single output file: its parent is made, a folder in its place refused', async () => {
      await writeFileAtomically(join(scratch, 'a', 'b', 'vocab.txt'), [Buffer.from('x\n')]);
      assert.equal(readFileSync(join(scratch, 'a', 'b', 'vocab.txt'), 'utf8'), 'x\n');
      await expectInputError(() => writeFileAtomically(join(scratch, 'a'), [Buffer.from('x')]), /is a folder; the output here is a file/);
      await expectInputError(() => preflightOutputFile(join(scratch, 'a', 'b', 'vocab.txt')), /output file already exists; pass --force/);
      await expectInputError(() => writeFolderAtomically(join(scratch, 'x'), {}, async () => {
        const err = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
        throw err;
      }), /x: cannot write: ENOSPC/);
    });
  });
});
