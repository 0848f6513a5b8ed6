/**
 * Seeded fuzzing of every reader: thousands of mutated safetensors files, torch.save
 * archives, pickle streams and config.json files. A reader may succeed or throw an
 * InputError; anything else (another exception type, a crash, a hang, a tensor whose
 * data does not match its shape) fails with the seed and the mutation that caused it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkTensorsMatchConfig, resolveArchitecture } from '../../lib/io/expected-weights.ts';
import { parseHfConfig } from '../../lib/io/hf-config.ts';
import { unpickle } from '../../lib/io/pickle.ts';
import { resolveTorchGlobal, torchStorageRef } from '../../lib/io/torch-globals.ts';
import { readSafetensors, type TensorFileContents } from '../../lib/io/safetensors.ts';
import { readTorchBin } from '../../lib/io/torch-bin.ts';
import { elementCount, type Tensor } from '../../lib/io/tensor.ts';
import { fixture, readFixture } from '../helpers/fixtures.ts';
import { fuzz, ITERATIONS } from '../helpers/fuzz-harness.ts';
import { GENERIC, mutateMany, tamperJson, type Mutated, type Random } from '../helpers/mutate.ts';
import { seededRandom } from '../helpers/random.ts';
import { makeZip, storedEntries } from '../helpers/zip-writer.ts';

function checkResult(result: unknown): void {
  const tensors = (result as Partial<TensorFileContents>)?.tensors;
  if (!(tensors instanceof Map)) return;
  for (const [name, tensor] of tensors as Map<string, Tensor>) {
    if (tensor.data.length !== elementCount(tensor.shape)) throw new Error(`tensor ${name}: ${tensor.data.length} values for shape [${tensor.shape}]`);
  }
}

/** safetensors-specific: a lying header length, or a tampered header field. */
function mutateSafetensors(bytes: Uint8Array, random: Random): Mutated {
  const choice = random();
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.readBigUInt64LE(0));
  if (choice < 0.15) {
    const out = bytes.slice();
    const value = [0n, 1n, BigInt(headerLength - 1), BigInt(headerLength + 1), BigInt(bytes.length), BigInt(bytes.length - 8), 2n ** 63n, 2n ** 64n - 1n, 100_000_001n][Math.floor(random() * 9)];
    Buffer.from(out.buffer).writeBigUInt64LE(value, 0);
    return { bytes: out, description: `header length ${headerLength} -> ${value}` };
  }
  if (choice < 0.55) {
    const header = JSON.parse(view.toString('utf8', 8, 8 + headerLength));
    const { value, description } = tamperJson(header, random);
    const text = Buffer.from(JSON.stringify(value));
    const prefix = Buffer.alloc(8);
    // Usually keep the length right so the tampered field is what gets tested.
    const keepRight = random() < 0.9;
    prefix.writeBigUInt64LE(BigInt(keepRight ? text.length : headerLength));
    return { bytes: new Uint8Array(Buffer.concat([prefix, text, view.subarray(8 + headerLength)])), description: `${description}${keepRight ? '' : ' (old header length)'}` };
  }
  return mutateMany(bytes, random, GENERIC);
}

/** torch.save archives: raw byte mutations, or a mutated data.pkl re-packed with a valid CRC. */
function mutateTorch(bytes: Uint8Array, random: Random): Mutated {
  if (random() < 0.5) return mutateMany(bytes, random, GENERIC);
  const entries = storedEntries(bytes);
  const target = random() < 0.8 ? entries.find((e) => e.name.endsWith('/data.pkl'))! : entries[Math.floor(random() * entries.length)];
  const mutated = mutateMany(target.data, random, GENERIC);
  const repacked = makeZip(entries.map((e) => (e === target ? { ...e, data: mutated.bytes } : e)), { zip64: random() < 0.2 });
  return { bytes: repacked, description: `re-pack ${target.name} after: ${mutated.description}` };
}

describe('fuzzing the readers (seeded)', function () {
  this.timeout(120_000);

  it(`safetensors: ${ITERATIONS} mutated files give a tensor map or an InputError`, async () => {
    const bases: Array<[string, Uint8Array]> = [
      ['dtypes-unaligned.safetensors', readFixture('dtypes-unaligned.safetensors')],
      ['vit model.safetensors', readFixture('vit-tiny-safetensors', 'model.safetensors')],
      ['bert shard 3', readFixture('bert-tiny-safetensors-sharded', 'model-00003-of-00003.safetensors')],
    ];
    const started = performance.now();
    const outcome = await fuzz(bases, mutateSafetensors, (bytes) => readSafetensors(bytes, { name: 'fuzz.safetensors' }), checkResult);
    console.log(`      safetensors: ${outcome.successes} read, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it(`pytorch_model.bin: ${ITERATIONS} mutated archives give a tensor map or an InputError`, async () => {
    const bases: Array<[string, Uint8Array]> = [
      ['views.bin', readFixture('views.bin')],
      ['dtypes.bin', readFixture('dtypes.bin')],
      ['bert shard 3', readFixture('bert-tiny-bin-sharded', 'pytorch_model-00003-of-00003.bin')],
      ['hostile.bin', readFixture('hostile.bin')],
    ];
    const started = performance.now();
    const outcome = await fuzz(bases, mutateTorch, (bytes) => readTorchBin(bytes, { name: 'fuzz.bin' }), checkResult);
    console.log(`      pytorch_model.bin: ${outcome.successes} read, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it(`config.json: ${ITERATIONS} mutated configs give a checked config or an InputError`, async () => {
    const vit = readTorchBin(fixture('vit-tiny-bin', 'pytorch_model.bin'));
    const bert = readTorchBin(fixture('bert-tiny-bin', 'pytorch_model.bin'));
    const weights = { vit: (await vit).tensors, bert: (await bert).tensors };
    const bases: Array<[string, Uint8Array]> = [
      ['vit config', readFixture('vit-tiny-bin', 'config.json')],
      ['bert config', readFixture('bert-tiny-bin', 'config.json')],
    ];
    const mutateConfig = (bytes: Uint8Array, random: Random): Mutated => {
      if (random() < 0.3) return mutateMany(bytes, random, GENERIC);
      const { value, description } = tamperJson(JSON.parse(Buffer.from(bytes).toString('utf8')), random);
      return { bytes: new Uint8Array(Buffer.from(JSON.stringify(value))), description };
    };
    const started = performance.now();
    const outcome = await fuzz(bases, mutateConfig, (bytes) => {
      const config = parseHfConfig(Buffer.from(bytes).toString('utf8'), 'config.json');
      const tensors = weights[config.model_type];
      return checkTensorsMatchConfig(config, resolveArchitecture(config, tensors.keys()), tensors, 'weights');
    });
    console.log(`      config.json: ${outcome.successes} accepted, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it(`pickle streams: ${ITERATIONS} mutated data.pkl streams give a value or an InputError`, async () => {
    const bases: Array<[string, Uint8Array]> = ['views.bin', 'dtypes.bin', 'hostile.bin'].map((name) => {
      const pickle = storedEntries(readFixture(name)).find((e) => e.name.endsWith('/data.pkl'))!;
      return [name, pickle.data];
    });
    const started = performance.now();
    const outcome = await fuzz(bases, (bytes, random) => mutateMany(bytes, random, GENERIC, 4), (bytes) =>
      unpickle(bytes, { source: 'data.pkl', resolveGlobal: resolveTorchGlobal, persistentLoad: torchStorageRef }));
    console.log(`      pickle: ${outcome.successes} ran, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it('the mutation engine is deterministic for a seed', () => {
    const bytes = new Uint8Array(readFileSync(fixture('views.bin')));
    const a = mutateTorch(bytes, seededRandom(42));
    const b = mutateTorch(bytes, seededRandom(42));
    assert.equal(a.description, b.description);
    assert.deepEqual(a.bytes, b.bytes);
  });
});
