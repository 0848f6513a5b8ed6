/**
 * Two ViT-B/16-sized models with random weights (224 x 224 x 3 images, 12 layers, hidden
 * 768, 12 heads, MLP 3072, 10 labels; 85.8M parameters each) and an experiment config that
 * fuses them on Fashion-MNIST resized to 224: the memory measurement of bench/fusion.
 *
 *   npx tsx bench/fusion/make-vitb-pair.ts <folder> [<fashion-mnist folder>]
 *   npx tsx bench/fusion/run.ts <folder>/experiment.yaml
 *
 * The activations come from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
 * when it is installed, else from the Fashion-MNIST files the package ships (data/fashion-mnist).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHfConfig } from '../../lib/io/hf-config.ts';
import { saveModel } from '../../lib/io/model-folder.ts';
import { randomTensors } from '../../test/helpers/vit-reference.ts';
import { writePairExperiment } from './pair-experiment.ts';

const folder = process.argv[2];
if (!folder) throw new Error('usage: bench/fusion/make-vitb-pair.ts <folder> [<fashion-mnist folder>]');
const debian = '/usr/share/datasets/fashion-mnist';
const data = resolve(process.argv[3] ?? (existsSync(debian) ? debian : join(dirname(fileURLToPath(import.meta.url)), '../../data/fashion-mnist')));
const shape = {
  image_size: 224, patch_size: 16, num_channels: 3, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12,
  intermediate_size: 3072, num_labels: 10, layer_norm_eps: 1e-12, qkv_bias: true,
};
mkdirSync(folder, { recursive: true });
for (const [name, seed] of [['a', 1], ['b', 2]] as const) {
  const config = parseHfConfig(JSON.stringify({ model_type: 'vit', architectures: ['ViTForImageClassification'], ...shape }), `${name}/config.json`);
  await saveModel(join(folder, name), { config, architecture: 'ViTForImageClassification', tensors: randomTensors(shape, seed) as never }, { force: true });
}
writePairExperiment(folder, "ViT-B/16-sized random pair: bench/fusion's memory measurement.", {
  model: { dataset: 'fashion_mnist' },
  acts: { seq_filter: 'window_6' },
  data: { folder: data, resize: true },
});
console.log(`wrote ${resolve(folder)}/{a,b,experiment.yaml}`);
