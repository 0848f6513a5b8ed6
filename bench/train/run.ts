/**
 * Seconds per training step, ours against PyTorch on the CPU, in one run: the same ViT,
 * weights, batch, thread count, loss (cross-entropy with label smoothing), clipping and
 * AdamW (decay on weight matrices only). Before timing, both sides take the same first
 * steps from the same weights and the driver checks that their losses agree.
 *
 *   npx tsx bench/train/run.ts [--threads 2,1] [--batch 128] [--seconds 10] [--rounds 3] [--models bundled,cifar192]
 *                              [--torch-env OMP_WAIT_POLICY=PASSIVE]
 *
 * --torch-env adds variables to the torch side's environment (torch always gets
 * OMP_NUM_THREADS = the thread count): GNU OpenMP's workers spin-wait by default, which
 * costs torch dearly when another process holds a core; PASSIVE makes them sleep.
 *
 * Models: `bundled` is the architecture of the bundled Fashion-MNIST parents A and B
 * (configs/train/fashion-mnist-vit-a.yaml); `cifar192` is the reference's CIFAR shape, 32x32x3
 * images with patch 4 (65 tokens) and 7 layers, at hidden 192 (6 heads, MLP 384). The
 * sides alternate for --rounds rounds and each keeps its best median, so background load
 * on a shared machine costs neither side more than the other.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSafetensors } from '../../lib/io/safetensors.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { vitConfigToHF, type VitConfig } from '../../lib/models/vit.ts';
import type { NativeTrainerConfig } from '../../lib/native.ts';
import { parseTrainConfig } from '../../lib/train/config.ts';
import { initVitTensors } from '../../lib/train/init.ts';
import { VitTrainer } from '../../lib/train/vit-trainer.ts';
import { seededRandom } from '../../test/helpers/random.ts';
import { medianSeconds } from '../timing.ts';
import { arg, logParity, printResults, runTorch } from '../train-compare.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const threadCounts = arg('threads', '2,1').split(',').map(Number);
const batch = Number(arg('batch', '128'));
const seconds = Number(arg('seconds', '10'));
const rounds = Number(arg('rounds', '3'));
const modelNames = arg('models', 'bundled,cifar192').split(',');
const PARITY_STEPS = 5;

/** The architecture of the bundled parents A and B, from their recipe. */
function bundledConfig(): VitConfig {
  const file = join(root, 'configs', 'train', 'fashion-mnist-vit-a.yaml');
  const m = parseTrainConfig(readFileSync(file, 'utf8'), file).model;
  return {
    hiddenSize: m.hidden_size, numLayers: m.num_hidden_layers, numHeads: m.num_attention_heads, intermediateSize: m.intermediate_size,
    layerNormEps: m.layer_norm_eps, imageSize: m.image_size, patchSize: m.patch_size, numChannels: m.num_channels, qkvBias: m.qkv_bias,
    numLabels: 10,
  };
}

const MODELS: Record<string, { label: string; config: () => VitConfig }> = {
  bundled: { label: 'bundled Fashion-MNIST ViT', config: bundledConfig },
  cifar192: {
    label: 'CIFAR ViT, hidden 192',
    config: () => ({
      hiddenSize: 192, numLayers: 7, numHeads: 6, intermediateSize: 384, layerNormEps: 1e-12,
      imageSize: 32, patchSize: 4, numChannels: 3, qkvBias: true, numLabels: 10,
    }),
  },
};

const recipe: NativeTrainerConfig = {
  schedule: 'constant', lr: 1e-3, warmupSteps: 0, totalSteps: 1_000_000, beta1: 0.9, beta2: 0.999, eps: 1e-8,
  weightDecay: 0.05, labelSmoothing: 0.1, maxGradNorm: 1.0,
};

function oursMedian(trainer: VitTrainer, images: Float32Array, labels: Int32Array): Promise<number> {
  return medianSeconds(() => trainer.step(images, labels, batch), seconds);
}

async function benchModel(name: string, threads: number): Promise<string> {
  const { label, config: makeConfig } = MODELS[name];
  const config = makeConfig();
  const tensors = initVitTensors(config, 1);
  const rand = seededRandom(7);
  const per = config.numChannels * config.imageSize * config.imageSize;
  const images = Float32Array.from({ length: batch * per }, () => rand() * 4 - 2);
  const labels = Int32Array.from({ length: batch }, () => Math.floor(rand() * config.numLabels));
  const dir = mkdtempSync(join(tmpdir(), 'otfuse-bench-train-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(vitConfigToHF(config)));
    writeFileSync(join(dir, 'recipe.json'), JSON.stringify(recipe));
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await writeSafetensors(join(dir, 'batch.safetensors'), new Map<string, Tensor>([
      ['pixel_values', { dtype: 'F32', shape: [batch, config.numChannels, config.imageSize, config.imageSize], data: images }],
      ['labels', { dtype: 'I32', shape: [batch], data: labels }],
    ]));
    const fresh = async () => {
      const t = await VitTrainer.create(config, tensors, { batchSize: batch });
      t.configure(recipe);
      return t;
    };
    const parity = await fresh();
    const ourLosses: number[] = [];
    for (let i = 0; i < PARITY_STEPS; i++) ourLosses.push((await parity.step(images, labels, batch)).loss);
    let ours = Infinity, theirs = Infinity, torchInfo: { torch: string; threads: number; losses: number[]; steps: number } | undefined;
    for (let round = 0; round < rounds; round++) {
      ours = Math.min(ours, await oursMedian(await fresh(), images, labels));
      const out = runTorch<{ torch: string; threads: number; losses: number[]; steps: number; seconds: number }>(
        join(here, 'torch_train.py'), [dir, String(threads), String(seconds), String(PARITY_STEPS)], threads);
      theirs = Math.min(theirs, out.seconds);
      torchInfo = out;
    }
    logParity(label, torchInfo!, ourLosses);
    const shape = `${config.imageSize}x${config.imageSize}x${config.numChannels}, patch ${config.patchSize} (${(config.imageSize / config.patchSize) ** 2 + 1} tokens), ${config.numLayers} layers, hidden ${config.hiddenSize}, ${config.numHeads} heads, MLP ${config.intermediateSize}`;
    return `| ${threads} | ${label}: ${shape} | ${batch} | ${(ours * 1000).toFixed(1)} | ${(theirs * 1000).toFixed(1)} | ${(theirs / ours).toFixed(2)}x | ${(batch / ours).toFixed(0)} | ${(batch / theirs).toFixed(0)} |`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await printResults('training-step benchmark', `, batch ${batch}`, threadCounts, modelNames,
    ['threads', 'model', 'batch', 'ours ms/step', 'torch ms/step', 'torch / ours', 'ours img/s', 'torch img/s'], benchModel);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
