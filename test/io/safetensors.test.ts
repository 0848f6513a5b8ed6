import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, readSafetensors, writeSafetensors } from '../../lib/io/safetensors.ts';
import { tensorOf, type Tensor } from '../../lib/io/tensor.ts';
import { expectInputError } from '../helpers/expect-error.ts';
import { EXPECTED, fixture, valuesHash } from '../helpers/fixtures.ts';

/** A safetensors file from a header object and a data section, as a lying writer would make it. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const text = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(text.length));
  return new Uint8Array(Buffer.concat([prefix, text, data]));
}

const everyDtype = (): Map<string, Tensor> => new Map<string, Tensor>([
  ['f64', tensorOf([2], new Float64Array([Math.PI, -1e300]))],
  ['f32', tensorOf([2, 2], new Float32Array([1.5, -2, 0, 3.25]))],
  ['i64', tensorOf([3], new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]))],
  ['i32', tensorOf([2], new Int32Array([-(2 ** 31), 2 ** 31 - 1]))],
  ['i16', tensorOf([2], new Int16Array([-32768, 32767]))],
  ['i8', tensorOf([2], new Int8Array([-128, 127]))],
  ['u8', tensorOf([2], new Uint8Array([0, 255]))],
  ['bool', tensorOf([3], new Uint8Array([1, 0, 1]), 'BOOL')],
  ['scalar', tensorOf([], new Float32Array([7]))],
  ['empty', tensorOf([0, 3], new Float32Array(0))],
]);

describe('safetensors', () => {
  it('reads every dtype from a file whose data starts at an odd offset, as the fixture script wrote it', async () => {
    const file = await readSafetensors(fixture('dtypes-unaligned.safetensors'));
    const expected = EXPECTED.dtypes;
    assert.deepEqual([...file.tensors.keys()], Object.keys(expected).sort((a, b) => [...file.tensors.keys()].indexOf(a) - [...file.tensors.keys()].indexOf(b)));
    for (const [name, want] of Object.entries(expected)) {
      const tensor = file.tensors.get(name)!;
      assert.equal(file.storedDtypes.get(name), want.dtype, name);
      assert.deepEqual(tensor.shape, want.shape, name);
      assert.equal(valuesHash(tensor), want.sha256, `values of ${name}`);
    }
    assert.equal(file.tensors.get('f16')!.dtype, 'F32');
    assert.equal(file.tensors.get('bf16')!.dtype, 'F32');
    assert.equal(file.tensors.get('i64')!.data.constructor, BigInt64Array);
    assert.equal(file.metadata, null);
  });

  it('round-trips every in-memory dtype, scalars and empty tensors, with the metadata HF needs', async () => {
    const tensors = everyDtype();
    const bytes = encodeSafetensors(tensors);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + Number(Buffer.from(bytes).readBigUInt64LE(0)))).toString());
    assert.deepEqual(header.__metadata__, { format: 'pt' });
    assert.equal((8 + Number(Buffer.from(bytes).readBigUInt64LE(0))) % 8, 0, 'header padded to 8 bytes');
    const back = await readSafetensors(bytes);
    assert.deepEqual(back.metadata, { format: 'pt' });
    for (const [name, tensor] of tensors) {
      const got = back.tensors.get(name)!;
      assert.equal(got.dtype, tensor.dtype, name);
      assert.deepEqual(got.shape, tensor.shape, name);
      assert.deepEqual(Array.from(got.data as ArrayLike<number>), Array.from(tensor.data as ArrayLike<number>), name);
    }
  });

  it('lays data out so that every tensor is aligned to its element size', async () => {
    const bytes = encodeSafetensors(everyDtype());
    const headerLength = Number(Buffer.from(bytes).readBigUInt64LE(0));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString()) as Record<string, { dtype: string; data_offsets: number[] }>;
    const size: Record<string, number> = { F64: 8, F32: 4, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      assert.equal((8 + headerLength + entry.data_offsets[0]) % size[entry.dtype], 0, name);
    }
  });

  it('keeps a file\'s read buffers as tensor storage, and never aliases a caller\'s buffer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otfuse-st-'));
    try {
      const tensors = everyDtype();
      const path = join(dir, 'model.safetensors');
      await writeSafetensors(path, tensors);
      const fromFile = await readSafetensors(path);
      for (const [name, tensor] of tensors) {
        const got = fromFile.tensors.get(name)!;
        assert.deepEqual(Array.from(got.data as ArrayLike<number>), Array.from(tensor.data as ArrayLike<number>), name);
        // Each tensor owns its whole buffer: no other tensor and no file buffer behind it.
        assert.equal(got.data.byteOffset, 0, name);
        assert.equal(got.data.buffer.byteLength, got.data.byteLength, name);
      }
      const bytes = encodeSafetensors(tensors);
      const fromBuffer = await readSafetensors(bytes);
      const f32 = fromBuffer.tensors.get('f32')!.data as Float32Array;
      assert.notEqual(f32.buffer, bytes.buffer);
      bytes.fill(0);
      assert.deepEqual(Array.from(f32), [1.5, -2, 0, 3.25]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads F32 data at every misalignment (1, 2, 3 bytes)', async () => {
    const values = new Float32Array([1.25, -3.5, 1e-30]);
    for (const pad of [1, 2, 3]) {
      const headerText = JSON.stringify({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }) + ' '.repeat(pad);
      const file = await readSafetensors(rawFile(null, new Uint8Array(values.buffer), headerText));
      assert.deepEqual(Array.from(file.tensors.get('w')!.data as Float32Array), Array.from(values));
    }
  });

  it('converts F16 and BF16 exactly, including subnormals, infinities and NaN', async () => {
    const half = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x7bff]);
    const bf16 = new Uint16Array([0x3f80, 0xc2f7, 0x7f80, 0x0001]);
    const data = Buffer.concat([Buffer.from(half.buffer), Buffer.from(bf16.buffer)]);
    const file = await readSafetensors(rawFile({
      h: { dtype: 'F16', shape: [8], data_offsets: [0, 16] },
      b: { dtype: 'BF16', shape: [4], data_offsets: [16, 24] },
    }, data));
    const h = Array.from(file.tensors.get('h')!.data as Float32Array);
    assert.deepEqual(h.slice(0, 5), [1, -2, 2 ** -24, Infinity, -Infinity]);
    assert.ok(Number.isNaN(h[5]));
    assert.ok(Object.is(h[6], -0));
    assert.equal(h[7], 65504);
    assert.deepEqual(Array.from(file.tensors.get('b')!.data as Float32Array).slice(0, 3), [1, -123.5, Infinity]);
    assert.equal(file.storedDtypes.get('h'), 'F16');
    assert.equal(file.storedDtypes.get('b'), 'BF16');
  });

  it('writes files atomically: no temporary file is left beside the output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otfuse-st-'));
    try {
      const path = join(dir, 'w.safetensors');
      await writeSafetensors(path, everyDtype(), { metadata: { format: 'pt', note: 'x' } });
      assert.deepEqual(readdirSync(dir), ['w.safetensors']);
      assert.deepEqual((await readSafetensors(path)).metadata, { format: 'pt', note: 'x' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('refuses bad files with one InputError naming the file and the fault', () => {
    const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const data8 = new Uint8Array(8);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['an empty file', new Uint8Array(0), /too short to be safetensors/],
      ['a file shorter than the length prefix', new Uint8Array(5), /too short/],
      ['a header length past the end', (() => { const f = rawFile(ok, data8); Buffer.from(f.buffer).writeBigUInt64LE(10_000n); return f; })(), /header length 10000 runs past the end/],
      ['a header length of 2^64 - 1', (() => { const f = rawFile(ok, data8); Buffer.from(f.buffer).writeBigUInt64LE(2n ** 64n - 1n); return f; })(), /runs past the end/],
      ['a header that is not JSON', rawFile(null, data8, '{"w": nope}'), /header is not JSON/],
      ['a header that is not UTF-8', rawFile(null, data8, '{"\udc00"}'), /not valid UTF-8|not JSON/],
      ['a header that is a JSON array', rawFile([1, 2]), /not a JSON object/],
      ['an unknown dtype', rawFile({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)), /tensor "w": unsupported dtype "F8_E4M3"/],
      ['a missing dtype', rawFile({ w: { shape: [2], data_offsets: [0, 8] } }, data8), /unsupported dtype undefined/],
      ['a negative shape', rawFile({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8), /shape must be a list of non-negative integers/],
      ['a fractional shape', rawFile({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, data8), /shape must be/],
      ['offsets out of range', rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 800] } }, data8), /past its end/],
      ['reversed offsets', rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data8), /data_offsets must be/],
      ['a shape/byte-count mismatch', rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8), /needs 12 bytes but data_offsets span 8/],
      ['a shape claiming terabytes', rawFile({ w: { dtype: 'F32', shape: [1e6, 1e6, 1e6], data_offsets: [0, 8] } }, data8), /needs more bytes than any file holds/],
      ['overlapping tensors', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data8), /overlaps tensor "a"/],
      ['a gap between tensors', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)), /gap of 4 bytes before tensor "b"/],
      ['bytes after the last tensor', rawFile(ok, new Uint8Array(12)), /4 bytes after the last tensor/],
      ['a tensor named twice', rawFile(null, data8, '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'), /names tensor "w" twice/],
      ['a tensor named twice through an escape', rawFile(null, data8, '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\\u0077":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'), /names tensor "w" twice/],
      ['a repeated field', rawFile(null, data8, '{"w":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}'), /repeats the key "dtype" in "w"/],
      ['metadata that is not strings', rawFile({ __metadata__: { format: 1 }, ...ok }, data8), /__metadata__ value of "format" must be a string/],
      ['an entry that is not an object', rawFile({ w: 'F32' }), /header entry must be an object/],
      ['a truncated data section', rawFile(ok, new Uint8Array(4)), /past its end/],
    ];
    for (const [what, bytes, pattern] of cases) {
      it(what, async () => {
        const err = await expectInputError(() => readSafetensors(bytes, { name: 'bad.safetensors' }), pattern);
        assert.equal(err.source, 'bad.safetensors');
      });
    }

    it('names the path of a file on disk', async () => {
      await expectInputError(() => readSafetensors(fixture('does-not-exist.safetensors')), /does-not-exist\.safetensors: does not exist/);
    });
  });
});
