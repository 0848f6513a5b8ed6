/**
 * Our side of bench/fusion, in a process of its own so its peak memory is its own: loads
 * the config's parents, captures activations and fuses (the stages the reference times),
 * writes the fusion samples it used for the reference side, and prints one JSON line.
 *
 *   node --import tsx bench/fusion/ours.ts <config.yaml> <work-dir> [--set key=value ...]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendInfo, checkDevice } from '../../lib/compute.ts';
import { loadExperimentConfig } from '../../lib/config/load.ts';
import { setDefaultDevice } from '../../lib/native.ts';
import { resolveNormalisation } from '../../lib/data/normalisation.ts';
import { encodeSafetensors } from '../../lib/io/safetensors.ts';
import { saveModel } from '../../lib/io/model-folder.ts';
import { loadParents } from '../../lib/pipeline/parents.ts';
import { fuseParents } from '../../lib/pipeline/vit-fusion.ts';
import { vitInput } from '../../lib/models/vit.ts';

const [configFile, work, ...rest] = process.argv.slice(2);
const overrides = rest.filter((_, i) => rest[i - 1] === '--set');
const cfg = loadExperimentConfig(configFile, overrides);
if (cfg.runtime.threads > 0) (await import('../../lib/compute.ts')).setThreads(cfg.runtime.threads);
// runtime.device (auto | cpu | cuda) reaches every native call, as in otfuse run.
checkDevice(cfg.runtime.device, 'runtime.device');
setDefaultDevice(cfg.runtime.device);
mkdirSync(work, { recursive: true });

const t0 = performance.now();
const parents = await loadParents(cfg.model.extraKeys, cfg.fusion.num_models);
const anchorIndex = Number(cfg.fusion.anchor.slice(5));
const anchor = parents[anchorIndex];
const norm = resolveNormalisation({ mean: cfg.data.mean, std: cfg.data.std, preprocessor: anchor.model.preprocessor, dataset: cfg.model.dataset, channels: anchor.config.numChannels });
const loadSeconds = (performance.now() - t0) / 1000;

const seconds: Record<string, number> = {};
let stageStart = 0;
const fusion = await fuseParents(parents, anchorIndex, cfg, norm, {
  stage: () => { stageStart = performance.now(); },
  done: (s) => { seconds[s] = (performance.now() - stageStart) / 1000; },
  progress: () => () => {},
});
const maxRssBytes = process.resourceUsage().maxRSS * 1024;

// What the reference side needs: the same parents (as safetensors folders), the same samples.
const images: Float32Array[] = [], labels: number[] = [];
for (const b of fusion.samples) {
  images.push(b.images);
  labels.push(...b.labels);
}
const pixels = new Float32Array(images.reduce((s, x) => s + x.length, 0));
images.reduce((at, x) => (pixels.set(x, at), at + x.length), 0);
const { channels, height, width } = vitInput(anchor.config);
writeFileSync(join(work, 'samples.safetensors'), encodeSafetensors([
  ['pixel_values', { dtype: 'F32', shape: [labels.length, channels, height, width], data: pixels }],
  ['labels', { dtype: 'I32', shape: [labels.length], data: Int32Array.from(labels) }],
]));
for (const [i, p] of parents.entries()) await saveModel(join(work, `model_${i === anchorIndex ? 1 : 0}`), p.model, { force: true });

const w = fusion.result.tensors.get('vit.encoder.layer.0.intermediate.dense.weight')!.data as Float32Array;
process.stdout.write(`${JSON.stringify({
  seconds: { load: loadSeconds, ...seconds }, maxRssBytes, samples: labels.length,
  device: cfg.runtime.device === 'auto' ? (backendInfo().cudaAvailable ? 'cuda' : 'cpu') : cfg.runtime.device,
  storeBytesPerModel: fusion.captured?.bytesPerModel ?? 0,
  weightBytes: parents.reduce((s, p) => s + [...p.model.tensors.values()].reduce((t, x) => t + x.data.byteLength, 0), 0),
  layer0MlpInNorm: Math.sqrt(w.reduce((s, x) => s + x * x, 0)),
})}\n`);
