import assert from 'node:assert/strict';
import { flatten, getPath, isLeaf, setPath, unflatten, type NestedDict } from '../lib/nested.ts';
import { floatTensor, type Tensor } from '../lib/io/tensor.ts';
import { loadModel } from '../lib/io/model-folder.ts';
import { expectInputError } from './helpers/expect-error.ts';
import { fixture } from './helpers/fixtures.ts';
import { seededRandom } from './helpers/random.ts';

describe('nested dictionaries', () => {
  it("nests HF names the way the reference does, layer indices as keys", () => {
    const q = floatTensor([2, 2]);
    const nested = unflatten(new Map<string, unknown>([
      ['vit.encoder.layer.0.attention.attention.query.weight', q],
      ['vit.encoder.layer.10.output.dense.bias', 1],
      ['vit.encoder.layer.2.output.dense.bias', 2],
      ['classifier.bias', 3],
    ])) as NestedDict<unknown>;
    const layers = ((nested.vit as NestedDict<unknown>).encoder as NestedDict<unknown>).layer as NestedDict<unknown>;
    assert.deepEqual(Object.keys(layers), ['0', '2', '10']);
    assert.equal(getPath(nested, 'vit.encoder.layer.0.attention.attention.query.weight'), q);
    assert.equal(getPath(nested, ['vit', 'encoder', 'layer', '10', 'output', 'dense', 'bias']), 1);
    assert.equal(getPath(nested, 'vit.encoder.layer.3'), undefined);
    assert.equal(getPath(nested, 'classifier.bias.more'), undefined);
  });

  it('round-trips every tensor of real checkpoints', async () => {
    for (const folder of ['vit-tiny-bin', 'bert-tiny-bin']) {
      const model = await loadModel(fixture(folder));
      const back = flatten<Tensor>(unflatten(model.tensors));
      assert.deepEqual(new Set(back.keys()), new Set(model.tensors.keys()));
      for (const [name, tensor] of model.tensors) assert.equal(back.get(name), tensor, name);
    }
  });

  it('round-trips random key sets (seeded)', () => {
    const random = seededRandom(7);
    for (let trial = 0; trial < 200; trial++) {
      const flat = new Map<string, number>();
      const words = ['a', 'b', 'weight', '0', '1', '12', 'x_y', '__proto__', 'constructor'];
      for (let i = 0; i < 1 + Math.floor(random() * 30); i++) {
        const depth = 1 + Math.floor(random() * 5);
        const key = Array.from({ length: depth }, () => words[Math.floor(random() * words.length)]).join('.');
        // Skip keys that would clash (leaf vs prefix); clashes have their own test.
        const clashes = [...flat.keys()].some((k) => k === key || k.startsWith(`${key}.`) || key.startsWith(`${k}.`));
        if (!clashes) flat.set(key, i);
      }
      const back = flatten<number>(unflatten(flat));
      assert.deepEqual(new Map([...back].sort()), new Map([...flat].sort()), `trial ${trial}`);
    }
  });

  it('keeps keys such as __proto__ as plain keys, never touching prototypes', () => {
    const nested = unflatten({ '__proto__.polluted': 1, 'constructor.prototype.x': 2 }) as NestedDict<number>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(getPath(nested, '__proto__.polluted'), 1);
    assert.deepEqual([...flatten(nested)], [['__proto__.polluted', 1], ['constructor.prototype.x', 2]]);
  });

  it('treats tensors, typed arrays and class instances as leaves, plain objects as branches', () => {
    assert.ok(isLeaf(floatTensor([1])));
    assert.ok(isLeaf(new Float32Array(1)));
    assert.ok(isLeaf(new Map()));
    assert.ok(isLeaf(null));
    assert.ok(!isLeaf({}));
    assert.ok(!isLeaf(Object.create(null)));
  });

  it('supports another separator', () => {
    const nested = unflatten({ 'a/b.c': 1 }, { separator: '/' });
    assert.deepEqual([...flatten(nested, { separator: '/' })], [['a/b.c', 1]]);
  });

  it('setPath creates branches and refuses to go through a leaf', async () => {
    const nested: NestedDict<number> = {};
    setPath(nested, 'a.b.c', 1);
    setPath(nested, ['a', 'd'], 2);
    assert.deepEqual([...flatten(nested)], [['a.b.c', 1], ['a.d', 2]]);
    await expectInputError(() => setPath(nested, 'a.b.c.d', 3), /"a\.b\.c" is a value, not a dictionary/);
  });

  describe('refuses what cannot round-trip', () => {
    it('a key that is both a leaf and a prefix (leaf first)', async () => {
      const err = await expectInputError(() => unflatten(new Map([['a.b', 1], ['a.b.c', 2]]), { source: 'model.safetensors' }), /^model\.safetensors: key "a\.b" is both a value and a prefix of "a\.b\.c"$/);
      assert.equal(err.source, 'model.safetensors');
    });
    it('a key that is both a leaf and a prefix (prefix first)', async () => {
      await expectInputError(() => unflatten(new Map([['a.b.c', 2], ['a.b', 1]])), /key "a\.b" is both a value and a prefix of "a\.b\.c"/);
    });
    it('a repeated key', async () => {
      await expectInputError(() => unflatten([['a.b', 1], ['a.b', 2]] as Array<[string, number]>), /key "a\.b" appears twice/);
    });
    it('empty segments', async () => {
      await expectInputError(() => unflatten({ 'a..b': 1 }), /key "a\.\.b" has an empty segment/);
      await expectInputError(() => unflatten({ '': 1 }), /has an empty segment/);
    });
    it('a nested key containing the separator', async () => {
      await expectInputError(() => flatten({ a: { 'b.c': 1 } }), /key "b\.c" under "a" is empty or contains the separator/);
    });
    it('a dictionary that contains itself', async () => {
      const loop: NestedDict<number> = { a: {} };
      (loop.a as NestedDict<number>).b = loop;
      await expectInputError(() => flatten(loop), /"a\.b" contains itself/);
    });
  });
});
