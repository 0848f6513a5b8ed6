import assert from 'node:assert/strict';
import { PyDict, PyList, PyTuple, unpickle } from '../../lib/io/pickle.ts';
import { resolveTorchGlobal } from '../../lib/io/torch-globals.ts';
import { expectInputError } from '../helpers/expect-error.ts';
import { PickleWriter } from '../helpers/pickle-writer.ts';

const run = (bytes: Uint8Array | number[]) => unpickle(Uint8Array.from(bytes), { source: 'data.pkl', resolveGlobal: resolveTorchGlobal });
const hex = (text: string) => [...Buffer.from(text.replace(/\s+/g, ''), 'hex')];

describe('restricted pickle interpreter', () => {
  // pickle.dumps(VALUE, protocol=p) from CPython, for
  // VALUE = {'a': [1, 2.5, None, True, 'x', 'é'], 'b': (-70000, 2**70, -2**40, False), 'c': {1: 'one'}}
  const streams: Record<string, number[]> = {
    0: [...Buffer.from("(dp0\nVa\np1\n(lp2\nI1\naF2.5\naNaI01\naVx\np3\naV\xe9\np4\nasVb\np5\n(I-70000\nL1180591620717411303424L\nL-1099511627776L\nI00\ntp6\nsVc\np7\n(dp8\nI1\nVone\np9\nss.", 'latin1')],
    2: hex('80027d71002858010000006171015d7102284b014740040000000000004e8858010000007871035802000000c3a97104655801000000627105284a90eefeff8a090000000000000000408a060000000000ff8974710658010000006371077d71084b0158030000006f6e65710973752e'),
    4: hex('80049565000000000000007d94288c0161945d94284b014740040000000000004e888c0178948c02c3a994658c016294284a90eefeff8a090000000000000000408a060000000000ff8974948c0163947d944b018c036f6e6594738c0164948f94284b03908c016594284b049194752e'),
  };
  for (const [protocol, bytes] of Object.entries(streams)) {
    it(`reads plain values written with protocol ${protocol}`, () => {
      const dict = run(bytes) as PyDict;
      assert.deepEqual((dict.entries.get('a') as PyList).items, [1, 2.5, null, true, 'x', 'é']);
      assert.deepEqual((dict.entries.get('b') as PyTuple).items, [-70000, 2n ** 70n, -(2 ** 40), false]);
      assert.deepEqual([...(dict.entries.get('c') as PyDict).entries], [[1, 'one']]);
    });
  }

  it('reads bytes (protocol 3) and bytearrays (protocol 5)', () => {
    const p3 = run(hex('80037d71005801000000787101430200017102732e')) as PyDict;
    assert.deepEqual(p3.entries.get('x'), Uint8Array.from([0, 1]));
    const p5 = run(hex('80059514000000000000007d948c017894960200000000000000000194732e')) as PyDict;
    assert.deepEqual(p5.entries.get('x'), Uint8Array.from([0, 1]));
  });

  it('refuses the globals plain Python sets need in protocols 2 and 3', async () => {
    await expectInputError(() => run(new PickleWriter().proto(2).global('__builtin__', 'set').emptyList().raw(0x85).reduce().stop().toBytes()), /forbidden global __builtin__\.set/);
  });

  it('reads protocol 0 strings with escapes and float spellings', () => {
    const values = run([...Buffer.from("(F-1.5\nFinf\nS'a\\nb'\nVsnow \\u2603\ntp0\n.", 'latin1')]) as PyTuple;
    assert.deepEqual(values.items, [-1.5, Infinity, 'a\nb', 'snow \u2603']);
  });

  it('survives a list that contains itself and very deep nesting without recursion', () => {
    const selfRef = run(new PickleWriter().proto(2).emptyList().put(0).get(0).append().stop().toBytes()) as PyList;
    assert.equal(selfRef.items[0], selfRef);
    const deep = new PickleWriter().proto(2);
    for (let i = 0; i < 200_000; i++) deep.emptyList();
    for (let i = 0; i < 199_999; i++) deep.append();
    assert.ok(run(deep.stop().toBytes()) instanceof PyList);
  });

  const bad: Array<[string, number[], RegExp]> = [
    ['an empty stream', [], /is truncated/],
    ['no STOP', [0x80, 2, 0x4e], /is truncated/],
    ['STOP on an empty stack', [0x80, 2, 0x2e], /pops from an empty stack/],
    ['REDUCE with nothing on the stack', [0x80, 2, 0x52], /pops from an empty stack/],
    ['APPEND to something that is not a list', [0x80, 2, 0x4e, 0x4e, 0x61], /applies APPEND to something that is not a list/],
    ['SETITEM on something that is not a dict', [0x80, 2, 0x4e, 0x4e, 0x4e, 0x73], /SETITEM to something that is not a dict/],
    ['TUPLE without MARK', [0x80, 2, 0x4e, 0x74], /MARK that was never set/],
    ['a memo slot never set', [0x80, 2, 0x68, 7], /memo slot 7, which was never set/],
    ['a string claiming 4 GB', [0x80, 2, 0x58, 0xff, 0xff, 0xff, 0xff, 0x61], /is truncated/],
    ['BINBYTES8 claiming 2^63 bytes', [0x80, 4, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x80], /claims a length of/],
    ['a 2 GB LONG4', [0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f], /integer of 2147483647 bytes/],
    ['calling a value that is not a function', [0x80, 2, 0x4e, 0x29, 0x52], /calls something that is not an allowed function/],
    ['calling OrderedDict with a non-tuple', [...new PickleWriter().proto(2).global('collections', 'OrderedDict').none().reduce().toBytes()], /without an argument tuple/],
    ['INST', [...Buffer.from('(ios\nsystem\n.', 'latin1')], /uses the INST opcode/],
    ['NEWOBJ', [0x80, 2, 0x4e, 0x29, 0x81], /uses the NEWOBJ opcode/],
    ['an extension code', [0x80, 2, 0x82, 1], /uses the EXT1 opcode/],
    ['an unknown opcode', [0x80, 2, 0xff], /unknown opcode 0xff/],
    ['protocol 9', [0x80, 9], /protocol 9/],
    ['BUILD on a non-dict', [0x80, 2, 0x5d, 0x7d, 0x62], /sets state \(BUILD\) on something that is not a dict/],
    ['a dict keyed by a list', [0x80, 2, 0x7d, 0x5d, 0x4e, 0x73], /dict key that is not a string/],
    ['a malformed INT', [...Buffer.from('I12x\n.', 'latin1')], /malformed integer/],
    ['a persistent id without a storage', [0x80, 2, 0x4e, 0x51], /persistent id/],
    ['a GLOBAL line with no end', [0x63, 0x6f, 0x73], /has no end of line/],
  ];
  for (const [what, bytes, pattern] of bad) {
    it(`refuses ${what}`, async () => {
      const err = await expectInputError(() => unpickle(Uint8Array.from(bytes), {
        source: 'data.pkl', resolveGlobal: resolveTorchGlobal,
        persistentLoad: (_pid, fail) => fail('persistent id is not a storage tuple'),
      }), pattern);
      assert.equal(err.source, 'data.pkl');
    });
  }
});
