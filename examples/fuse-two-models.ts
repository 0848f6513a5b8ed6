/**
 * Fuses the two bundled Fashion-MNIST ViTs with optimal transport from a Node script,
 * evaluates the parents and the result on the shipped test split, and saves the fused
 * model. Run from the package folder:
 *
 *   npx tsx examples/fuse-two-models.ts [output-folder]
 */
import { evaluate, fuse, loadModel, saveModel } from '../lib/index.ts';

const output = process.argv[2] ?? 'fused-model';
const [a, b] = await Promise.all([loadModel('models/fashion-mnist/vit-a'), loadModel('models/fashion-mnist/vit-b')]);

const fused = await fuse([a, b], {
  data: 'data/fashion-mnist-fusion', // held-out images the parents never trained on
  dataOptions: { activations: { holdout_fraction: 0 } }, // the folder holds only those
  fusion: { ot_solver: 'sinkhorn', sinkhorn_reg: 0.08 }, // statistics repair (repair: 'anchor') is on by default
  onProgress: (stage, done, total) => process.stderr.write(`\r${stage} ${done}/${total}   `),
});
process.stderr.write('\n');

for (const [name, model] of [['vit-a', a], ['vit-b (anchor)', b], ['OT-fused', fused.model]] as const) {
  const r = await evaluate(model, { data: 'data/fashion-mnist' });
  if (r.kind !== 'image-classification') throw new Error(`expected an image classifier, got a ${r.kind} model`);
  console.log(`${name.padEnd(16)} ${(r.accuracy * 100).toFixed(2)}% on ${r.images} test images`);
}
const maps = fused.maps[0];
console.log(`${maps.length} transport maps, mean permutation score ${(maps.reduce((s, m) => s + m.permutationScore, 0) / maps.length).toFixed(3)}`);
await saveModel(output, fused.model, { force: true });
console.log(`saved ${output}/`);
