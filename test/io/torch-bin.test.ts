import assert from 'node:assert/strict';
import { readTorchBin } from '../../lib/io/torch-bin.ts';
import { readSafetensors } from '../../lib/io/safetensors.ts';
import { expectInputError } from '../helpers/expect-error.ts';
import { EXPECTED, fixture, readFixture, valuesHash } from '../helpers/fixtures.ts';
import { PickleWriter, type ViewSpec } from '../helpers/pickle-writer.ts';
import { makeZip, storedEntries, type ZipInput } from '../helpers/zip-writer.ts';

/** A torch.save-shaped archive from a pickle and storages. */
function archive(pickle: Uint8Array, storages: Record<string, Uint8Array>, extra: ZipInput[] = []): Uint8Array {
  return makeZip([
    { name: 'archive/data.pkl', data: pickle },
    ...Object.entries(storages).map(([key, data]) => ({ name: `archive/data/${key}`, data })),
    { name: 'archive/version', data: Buffer.from('3\n') },
    ...extra,
  ]);
}

const floats = (...values: number[]) => new Uint8Array(new Float32Array(values).buffer);
const storage6 = { key: '0', numel: 6 };

function stateDict(entries: Array<[string, ViewSpec]>): Uint8Array {
  return new PickleWriter().stateDict(entries).stop().toBytes();
}

describe('pytorch_model.bin', () => {
  it('reads every dtype torch.save wrote, including F16, BF16, I64, BOOL, scalars and empty tensors', async () => {
    const file = await readTorchBin(fixture('dtypes.bin'));
    for (const [name, want] of Object.entries(EXPECTED.dtypes)) {
      const tensor = file.tensors.get(name);
      assert.ok(tensor, name);
      assert.equal(file.storedDtypes.get(name), want.dtype, name);
      assert.deepEqual(tensor.shape, want.shape, name);
      assert.equal(valuesHash(tensor), want.sha256, `values of ${name}`);
    }
    assert.deepEqual([...file.tensors.keys()], Object.keys(EXPECTED.dtypes).sort((a, b) => [...file.tensors.keys()].indexOf(a) - [...file.tensors.keys()].indexOf(b)));
  });

  it('materialises transposed, sliced, strided and shared-storage views as torch sees them', async () => {
    const file = await readTorchBin(fixture('views.bin'));
    for (const [name, want] of Object.entries(EXPECTED.views)) {
      assert.deepEqual(file.tensors.get(name)!.shape, want.shape, name);
      assert.equal(valuesHash(file.tensors.get(name)!), want.sha256, name);
    }
    assert.deepEqual(Array.from(file.tensors.get('transposed')!.data as Float32Array).slice(0, 6), [0, 6, 12, 18, 1, 7]);
    // Views of one storage come out as independent arrays.
    const whole = file.tensors.get('whole')!.data as Float32Array;
    whole[12] = -1;
    assert.equal((file.tensors.get('row_2')!.data as Float32Array)[0], 12);
  });

  it('reads a tied BERT state dict (two names, one storage) and the I64 position_ids buffer', async () => {
    const file = await readTorchBin(fixture('bert-tiny-bin', 'pytorch_model.bin'));
    for (const [name, want] of Object.entries(EXPECTED['bert-tiny'])) {
      assert.equal(valuesHash(file.tensors.get(name)!), want.sha256, name);
      assert.equal(file.storedDtypes.get(name), want.dtype, name);
    }
    const ids = file.tensors.get('bert.embeddings.position_ids')!;
    assert.equal(ids.dtype, 'I64');
    assert.deepEqual(Array.from(ids.data as BigInt64Array), Array.from({ length: 12 }, (_, i) => BigInt(i)));
    assert.notEqual(file.tensors.get('cls.predictions.decoder.weight')!.data, file.tensors.get('bert.embeddings.word_embeddings.weight')!.data);
  });

  it('gives the same values as the safetensors copy of the same ViT', async () => {
    const bin = await readTorchBin(fixture('vit-tiny-bin', 'pytorch_model.bin'));
    const st = await readSafetensors(fixture('vit-tiny-safetensors', 'model.safetensors'));
    assert.deepEqual([...bin.tensors.keys()], [...st.tensors.keys()]);
    for (const [name, tensor] of bin.tensors) assert.deepEqual(tensor, st.tensors.get(name), name);
  });

  it('reads archives re-packed with deflate, with zip64 records, and with padded local headers', async () => {
    const original = await readTorchBin(fixture('views.bin'));
    const entries = storedEntries(readFixture('views.bin'));
    for (const [what, bytes] of [
      ['deflate', makeZip(entries.map((e) => ({ ...e, method: 8 as const })))],
      ['zip64', makeZip(entries, { zip64: true })],
      ['padding', makeZip(entries, { extraPadding: 37 })],
    ] as const) {
      const file = await readTorchBin(bytes, { name: what });
      assert.deepEqual(file.tensors, original.tensors, what);
    }
  });

  it('accepts the byteorder record newer torch writes, and refuses big-endian files', async () => {
    const pickle = stateDict([['w', { storage: storage6, size: [6] }]]);
    const data = { 0: floats(1, 2, 3, 4, 5, 6) };
    const little = await readTorchBin(archive(pickle, data, [{ name: 'archive/byteorder', data: Buffer.from('little') }]));
    assert.deepEqual(Array.from(little.tensors.get('w')!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    await expectInputError(() => readTorchBin(archive(pickle, data, [{ name: 'archive/byteorder', data: Buffer.from('big') }]), { name: 'be.bin' }), /^be\.bin: was saved on a big-endian machine/);
  });

  it('accepts parameters, tensor-subclass wrappers and the newer 7-argument rebuild', async () => {
    const w = new PickleWriter().proto(2).emptyDict().mark();
    w.str('p').global('torch._utils', '_rebuild_parameter').mark().tensor({ storage: storage6, size: [2, 3] }).bool(true)
      .global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    w.str('wrapped').global('torch._tensor', '_rebuild_from_type_v2').mark().global('torch._utils', '_rebuild_tensor_v2')
      .global('torch', 'Tensor').mark().mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(6).tuple().binpersid()
      .int(3).intTuple([3]).intTuple([1]).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().none().tuple()
      .emptyDict().tuple().reduce();
    const file = await readTorchBin(archive(w.setitems().stop().toBytes(), { 0: floats(1, 2, 3, 4, 5, 6) }));
    assert.deepEqual(file.tensors.get('p')!.shape, [2, 3]);
    assert.deepEqual(Array.from(file.tensors.get('wrapped')!.data as Float32Array), [4, 5, 6]);
  });

  it('keeps the state dict _metadata BUILD of torch state dicts out of the tensors', async () => {
    const w = new PickleWriter().stateDict([['w', { storage: storage6, size: [6] }]]);
    w.emptyDict().str('_metadata').global('collections', 'OrderedDict').emptyTuple().reduce().mark().str('').emptyDict().str('version').int(1).setitem().setitems().setitem().build();
    const file = await readTorchBin(archive(w.stop().toBytes(), { 0: floats(1, 2, 3, 4, 5, 6) }));
    assert.deepEqual([...file.tensors.keys()], ['w']);
  });

  describe('refuses bad files with one InputError naming the file and the fault', () => {
    const good = () => archive(stateDict([['w', { storage: storage6, size: [6] }]]), { 0: floats(1, 2, 3, 4, 5, 6) });

    it('the legacy (pre-1.6) format', async () => {
      await expectInputError(() => readTorchBin(fixture('legacy.bin')), /legacy\.bin: unsupported legacy format, re-save with torch >= 1\.6/);
    });

    it('a pickle that would run a shell command (written by torch.save)', async () => {
      await expectInputError(() => readTorchBin(fixture('hostile.bin')), /hostile\.bin: pickle references the forbidden global posix\.system$/);
    });

    it('a hand-made pickle calling os.system', async () => {
      const pickle = new PickleWriter().proto(2).global('os', 'system').str('touch /tmp/pwned').raw(0x85).reduce().stop().toBytes();
      await expectInputError(() => readTorchBin(archive(pickle, {}), { name: 'pytorch_model.bin' }), /^pytorch_model\.bin: pickle references the forbidden global os\.system$/);
    });

    it('a global reached through STACK_GLOBAL', async () => {
      const pickle = new PickleWriter().proto(4).str('builtins').str('eval').raw(0x93).stop().toBytes();
      await expectInputError(() => readTorchBin(archive(pickle, {})), /forbidden global builtins\.eval/);
    });

    it('something that is not a zip', async () => {
      await expectInputError(() => readTorchBin(Buffer.from('hello world, not a checkpoint'), { name: 'x.bin' }), /x\.bin: not a PyTorch checkpoint/);
    });

    it('an empty file', async () => {
      await expectInputError(() => readTorchBin(new Uint8Array(0), { name: 'x.bin' }), /x\.bin: not a PyTorch checkpoint/);
    });

    it('a truncated archive', async () => {
      const bytes = good();
      await expectInputError(() => readTorchBin(bytes.subarray(0, bytes.length - 30)), /end-of-central-directory record not found/);
    });

    it('a corrupted storage (CRC mismatch)', async () => {
      const bytes = good();
      const at = Buffer.from(bytes).indexOf(Buffer.from(floats(1, 2, 3, 4, 5, 6)));
      bytes[at + 5] ^= 0x40;
      await expectInputError(() => readTorchBin(bytes), /zip entry "archive\/data\/0": CRC-32 mismatch/);
    });

    it('a central directory offset out of range', async () => {
      const bytes = good();
      Buffer.from(bytes.buffer).writeUInt32LE(0x7fffffff, bytes.length - 6);
      await expectInputError(() => readTorchBin(bytes), /central directory runs past its end record|truncated/);
    });

    it('an entry whose local header offset points into the central directory', async () => {
      const bytes = good();
      const buf = Buffer.from(bytes.buffer);
      const directory = buf.readUInt32LE(bytes.length - 6);
      buf.writeUInt32LE(directory - 10, directory + 42);
      await expectInputError(() => readTorchBin(bytes), /starts past the end of the entry data/);
    });

    it('an entry claiming a huge size', async () => {
      const bytes = good();
      const buf = Buffer.from(bytes.buffer);
      const directory = buf.readUInt32LE(bytes.length - 6);
      buf.writeUInt32LE(0xfffffff0, directory + 20);
      buf.writeUInt32LE(0xfffffff0, directory + 24);
      await expectInputError(() => readTorchBin(bytes), /data runs into the central directory|truncated/);
    });

    it('a zip with no data.pkl', async () => {
      await expectInputError(() => readTorchBin(makeZip([{ name: 'a/b.txt', data: Buffer.from('x') }])), /has no <name>\/data\.pkl/);
    });

    it('a storage missing from the archive', async () => {
      await expectInputError(() => readTorchBin(archive(stateDict([['w', { storage: storage6, size: [6] }]]), {})), /storage "0" is missing from the archive/);
    });

    it('a storage whose bytes do not match its element count', async () => {
      await expectInputError(() => readTorchBin(archive(stateDict([['w', { storage: storage6, size: [6] }]]), { 0: floats(1, 2) })), /storage "0" holds 8 bytes but 6 elements of F32 need 24/);
    });

    it('a storage claiming a trillion elements (nothing is allocated for the claim)', async () => {
      const pickle = stateDict([['w', { storage: { key: '0', numel: 2 ** 40 }, size: [6] }]]);
      await expectInputError(() => readTorchBin(archive(pickle, { 0: floats(1, 2, 3, 4, 5, 6) })), /storage "0" holds 24 bytes but 1099511627776 elements of F32 need 4398046511104/);
    });

    it('a view reaching past the end of its storage', async () => {
      const pickle = stateDict([['w', { storage: storage6, offset: 4, size: [3] }]]);
      await expectInputError(() => readTorchBin(archive(pickle, { 0: floats(1, 2, 3, 4, 5, 6) })), /view \[3\] at offset 4 reaches past the end of storage "0"/);
    });

    it('a broadcast view claiming billions of elements from one value', async () => {
      const pickle = stateDict([['w', { storage: { key: '0', numel: 1 }, size: [100000, 100000], stride: [0, 0] }]]);
      await expectInputError(() => readTorchBin(archive(pickle, { 0: floats(1) })), /repeats elements of storage "0"/);
    });

    it('a storage named with two different types', async () => {
      const pickle = stateDict([['a', { storage: storage6, size: [6] }], ['b', { storage: { key: '0', type: 'HalfStorage', numel: 6 }, size: [6] }]]);
      await expectInputError(() => readTorchBin(archive(pickle, { 0: floats(1, 2, 3, 4, 5, 6) })), /storage "0" is named as both torch\.FloatStorage and torch\.HalfStorage/);
    });

    it('an unsupported storage type', async () => {
      const pickle = stateDict([['w', { storage: { key: '0', type: 'ComplexFloatStorage', numel: 1 }, size: [1] }]]);
      await expectInputError(() => readTorchBin(archive(pickle, { 0: floats(1, 2) })), /forbidden global torch\.ComplexFloatStorage/);
    });

    it('a storage key that tries to leave the archive folder', async () => {
      const pickle = stateDict([['w', { storage: { key: '../../etc/passwd', numel: 1 }, size: [1] }]]);
      await expectInputError(() => readTorchBin(archive(pickle, {})), /invalid storage key/);
    });

    it('a pickle whose top object is not a dict', async () => {
      await expectInputError(() => readTorchBin(archive(new PickleWriter().proto(2).emptyList().stop().toBytes(), {})), /does not hold a state dict/);
    });

    it('a state dict entry that is not a tensor', async () => {
      const pickle = new PickleWriter().proto(2).emptyDict().str('epoch').int(3).setitem().stop().toBytes();
      await expectInputError(() => readTorchBin(archive(pickle, {})), /state dict entry "epoch" is a number, not a tensor/);
    });

    it('a big-endian or unknown byteorder record', async () => {
      const bytes = archive(stateDict([]), {}, [{ name: 'archive/byteorder', data: Buffer.from('middle') }]);
      await expectInputError(() => readTorchBin(bytes), /byteorder record says "middle"/);
    });

    it('two data.pkl archives in one zip', async () => {
      const bytes = makeZip([{ name: 'a/data.pkl', data: stateDict([]) }, { name: 'b/data.pkl', data: stateDict([]) }]);
      await expectInputError(() => readTorchBin(bytes), /holds 2 pickles/);
    });

    it('duplicate zip entries', async () => {
      const bytes = makeZip([{ name: 'archive/data.pkl', data: stateDict([]) }, { name: 'archive/data.pkl', data: stateDict([]) }]);
      await expectInputError(() => readTorchBin(bytes), /two entries named "archive\/data\.pkl"/);
    });

    it('corrupt deflate data', async () => {
      const bytes = makeZip([{ name: 'archive/data.pkl', data: stateDict([]), method: 8 }]);
      // Data starts after the 30-byte local header and the 16-byte name.
      bytes[48] ^= 0xff;
      bytes[49] ^= 0xff;
      await expectInputError(() => readTorchBin(bytes), /deflate data is corrupt|CRC-32 mismatch|holds \d+ bytes but its header says/);
    });
  });
});
