/**
 * Forward-pass throughput, ours against PyTorch on the CPU, same weights, inputs, batch
 * sizes and thread count, in one run. Also measures OpenBLAS SGEMM's peak on this
 * machine so that GFLOP/s can be read against it.
 *
 *   npx tsx bench/forward/run.ts [--threads 2,1] [--batches 1,64,256] [--seconds 3] [--hidden 192,384]
 *
 * Each thread count runs both sides with that many threads (ours: our pool and
 * OpenBLAS; torch: torch.set_num_threads and OMP_NUM_THREADS). The sides alternate for
 * --rounds rounds and each keeps its best median: a shared machine's background load
 * then costs neither side more than the other.
 *
 * The ViT is the reference's CIFAR shape as far as the reference fixes it: 32x32 images,
 * patch 4 (64 patches + CLS = 65 tokens), 7 encoder layers, 10 labels. It does not fix
 * the width; we run hidden 192 and 384 with MLP = 2 x hidden and head dim 32 (6 and 12
 * heads).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendInfo, matmul, setThreads } from '../../lib/compute.ts';
import { writeSafetensors } from '../../lib/io/safetensors.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { createVitModel, vitConfigToHF, vitParameterShapes, type VitConfig } from '../../lib/models/vit.ts';
import { seededRandom } from '../../test/helpers/random.ts';
import { medianSeconds } from '../timing.ts';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const threadCounts = arg('threads', '2,1').split(',').map(Number);
const batches = arg('batches', '1,64,256').split(',').map(Number);
const seconds = Number(arg('seconds', '3'));
const hiddens = arg('hidden', '192,384').split(',').map(Number);
const rounds = Number(arg('rounds', '3'));

function flopsPerImage(c: VitConfig): number {
  const T = (c.imageSize / c.patchSize) ** 2 + 1, C = c.hiddenSize, I = c.intermediateSize, P = T - 1;
  const pd = c.numChannels * c.patchSize ** 2;
  const layer = 2 * T * C * 3 * C + 2 * 2 * T * T * C + 2 * T * C * C + 2 * 2 * T * C * I;
  return 2 * P * pd * C + c.numLayers * layer + 2 * C * c.numLabels;
}

function median(run: () => Promise<unknown>): Promise<number> {
  return medianSeconds(run, seconds);
}

async function sgemmPeak(): Promise<{ gflops: number; n: number }> {
  let best = { gflops: 0, n: 0 };
  for (const n of [1024, 2048]) {
    const rand = seededRandom(n);
    const a = Float32Array.from({ length: n * n }, () => rand() - 0.5);
    const b = Float32Array.from({ length: n * n }, () => rand() - 0.5);
    const t = await median(() => matmul(a, b, n, n, n));
    const g = (2 * n ** 3) / t / 1e9;
    if (g > best.gflops) best = { gflops: g, n };
  }
  return best;
}

/** Measures one model width at one thread count; the table rows wait for the SGEMM peak. */
async function benchWidth(hidden: number, threads: number): Promise<(peak: number) => string[]> {
  const config: VitConfig = {
    hiddenSize: hidden, numLayers: 7, numHeads: hidden / 32, intermediateSize: 2 * hidden, layerNormEps: 1e-12,
    imageSize: 32, patchSize: 4, numChannels: 3, qkvBias: true, numLabels: 10,
  };
  const rand = seededRandom(hidden);
  const tensors = new Map(vitParameterShapes(config).map(({ name, shape }) => {
    const n = shape.reduce((x, y) => x * y, 1);
    const ln = name.includes('layernorm');
    const data = Float32Array.from({ length: n }, () => (ln && name.endsWith('weight') ? 1 : 0) + (rand() - 0.5) * (ln ? 0.2 : 0.1));
    return [name, { dtype: 'F32', shape, data } as Tensor];
  }));
  const maxBatch = Math.max(...batches);
  const inputs = Float32Array.from({ length: maxBatch * 3 * 32 * 32 }, () => rand() * 4 - 2);
  const dir = mkdtempSync(join(tmpdir(), 'otfuse-bench-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(vitConfigToHF(config)));
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await writeSafetensors(join(dir, 'inputs.safetensors'), [['pixel_values', { dtype: 'F32', shape: [maxBatch, 3, 32, 32], data: inputs }]]);
    const model = await createVitModel(config, tensors);
    const ours: Record<number, number> = {};
    const torchBest: Record<string, number> = {};
    let torch: { torch: string; threads: number; logits: number[]; timings: Record<string, number> } | undefined;
    for (let round = 0; round < rounds; round++) {
      for (const b of batches) ours[b] = Math.min(ours[b] ?? Infinity, await median(() => model.forward(inputs, b)));
      const run = spawnSync('/usr/bin/python3', [join(here, 'torch_forward.py'), dir, String(threads), batches.join(','), String(seconds)], {
        encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, OMP_NUM_THREADS: String(threads) },
      });
      if (run.status !== 0) throw new Error(`torch side failed:\n${run.stderr}`);
      torch = JSON.parse(run.stdout.trim().split('\n').pop()!);
      for (const b of batches) torchBest[b] = Math.min(torchBest[b] ?? Infinity, torch!.timings[String(b)]);
    }
    if (!torch) throw new Error('no rounds were run');
    const { logits } = await model.forward(inputs, 4);
    let diff = 0;
    logits.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - torch.logits[i]))));
    console.log(`# hidden ${hidden}: torch ${torch.torch} on ${torch.threads} thread(s); max |logit difference| ${diff.toExponential(1)}`);
    const flops = flopsPerImage(config);
    return (peak: number) => batches.map((b) => {
      const gf = (ips: number) => `${((ips * flops) / 1e9).toFixed(1)} (${((100 * ips * flops) / 1e9 / peak).toFixed(0)}%)`;
      const oursIps = b / ours[b], torchIps = b / torchBest[b];
      return `| ${threads} | ${hidden} / ${config.numHeads} / ${config.intermediateSize} | ${b} | ${oursIps.toFixed(1)} | ` +
        `${torchIps.toFixed(1)} | ${(oursIps / torchIps).toFixed(2)}x | ${gf(oursIps)} | ${gf(torchIps)} |`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`# forward benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} logical cores`);
  const rows: string[] = [];
  for (const threads of threadCounts) {
    setThreads(threads);
    console.log(`# ours: ${backendInfo().cpu}`);
    // The peak is the best of a measurement before and one after the models run.
    const before = await sgemmPeak();
    const results: Array<(peak: number) => string[]> = [];
    for (const hidden of hiddens) results.push(await benchWidth(hidden, threads));
    const after = await sgemmPeak();
    const peak = before.gflops >= after.gflops ? before : after;
    console.log(`# OpenBLAS SGEMM peak on ${threads} thread(s): ${peak.gflops.toFixed(1)} GFLOP/s (n = ${peak.n})`);
    for (const rowsFor of results) rows.push(...rowsFor(peak.gflops));
  }
  console.log('');
  console.log('| threads | hidden / heads / MLP | batch | ours img/s | torch img/s | ours / torch | ours GFLOP/s (% of SGEMM peak) | torch GFLOP/s (% of peak) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
