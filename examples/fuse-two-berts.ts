/**
 * Fuses the two bundled BERT masked LMs (models/fortunes) with optimal transport from a
 * Node script, evaluates the parents and the result on the shipped test text (masked-LM
 * loss, perplexity, masked-token accuracy), and saves the fused model with the anchor's
 * tokenizer files. Run from the package folder:
 *
 *   npx tsx examples/fuse-two-berts.ts [output-folder]
 */
import { evaluate, fuse, loadModel, saveModel } from '../lib/index.ts';

const output = process.argv[2] ?? 'fused-bert';
const [a, b] = await Promise.all([loadModel('models/fortunes/bert-a'), loadModel('models/fortunes/bert-b')]);

// The parents were trained on 64-token blocks of packed text; the fusion and the
// evaluation read the text the same way.
const text = { max_length: 64, pack: true };
const fused = await fuse([a, b], {
  data: 'data/fortunes-short', // text for the activations: the first 200 training blocks
  dataOptions: { text, activations: { holdout_fraction: 0 } }, // the parents left no holdout out
  fusion: { ot_solver: 'emd', resid_policy: 'mean' }, // statistics repair (repair: 'anchor') is on by default
  onProgress: (stage, done, total) => process.stderr.write(`\r${stage} ${done}/${total}   `),
});
process.stderr.write('\n');

for (const [name, model] of [['bert-a', a], ['bert-b (anchor)', b], ['OT-fused', fused.model]] as const) {
  const r = await evaluate(model, { data: 'data/fortunes-short', maxLength: text.max_length, pack: text.pack });
  if (r.kind !== 'masked-lm') throw new Error(`expected a masked LM, got a ${r.kind} model`);
  console.log(`${name.padEnd(16)} perplexity ${r.perplexity.toFixed(2)}, masked-token accuracy ${(r.accuracy * 100).toFixed(2)}% on ${r.sequences} test blocks`);
}
const maps = fused.maps[0];
console.log(`${maps.length} transport maps, mean permutation score ${(maps.reduce((s, m) => s + m.permutationScore, 0) / maps.length).toFixed(3)}`);
await saveModel(output, fused.model, { force: true });
console.log(`saved ${output}/`);
