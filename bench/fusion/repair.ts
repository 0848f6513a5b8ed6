/**
 * Statistics repair's measurements, side by side in one process on the same fusion: the
 * staged session (lib/pipeline/measure.ts: the fusion samples carry their residual
 * streams from layer to layer and re-enter a layer right after the group measured last)
 * and a fresh model with a whole pass from the inputs for every group
 * (wholePassMeasures: each pass stops right after the group). Both repairs must give the
 * same weights, to rounding; prints one JSON line with their seconds and the largest
 * weight difference. --staged-only times the staged session alone.
 *
 *   node --import tsx bench/fusion/repair.ts <experiment.yaml> [--staged-only] [--set key=value ...]
 *
 * Works for ViT (hf_vit) and BERT (hf_bert) experiments; fusion.repair picks the target
 * (anchor when it is none).
 */
import { backendInfo, setThreads } from '../../lib/compute.ts';
import { loadExperimentConfig } from '../../lib/config/load.ts';
import { resolveNormalisation } from '../../lib/data/normalisation.ts';
import { repairStatistics, wholePassMeasures, type RepairInput } from '../../lib/fusion/repair.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { bertFusionGraph } from '../../lib/models/bert-graph.ts';
import { vitFusionGraph } from '../../lib/models/vit.ts';
import { fuseBertParents, textSettings } from '../../lib/pipeline/bert-fusion.ts';
import { loadBertParents } from '../../lib/pipeline/bert-parents.ts';
import { measureBert, measureOnSamples } from '../../lib/pipeline/measure.ts';
import { loadParents } from '../../lib/pipeline/parents.ts';
import { fuseParents } from '../../lib/pipeline/vit-fusion.ts';
import { BertTokenizer } from '../../lib/text/tokenizer.ts';
import { machineDescription } from '../machine.ts';

const [configFile, ...rest] = process.argv.slice(2);
const cfg = loadExperimentConfig(configFile, rest.filter((_, i) => rest[i - 1] === '--set'));
const threads = setThreads(cfg.runtime.threads);
const anchorIndex = Number(cfg.fusion.anchor.slice('name_'.length));
const hooks = { stage: () => {}, done: () => {}, progress: () => () => {} };

let input: Omit<RepairInput, 'measure'> & { measure: RepairInput['measure'] };
let samples = 0;
if (cfg.model.type === 'hf_bert') {
  const parents = await loadBertParents(cfg.model.extraKeys, cfg.fusion.num_models, cfg.runtime.device);
  const anchor = parents[anchorIndex];
  const text = textSettings(cfg, anchor);
  const fusion = await fuseBertParents(parents, anchorIndex, { ...text, fusion: { ...text.fusion, repair: 'anchor' } }, BertTokenizer.fromModel(anchor.model), hooks);
  const batches = fusion.samples!.batches.map((b) => b.batch);
  samples = fusion.samples!.count;
  input = {
    graph: bertFusionGraph(anchor.config), fused: fusion.result.tensors, parents: parents.map((p) => p.tensors), anchor: anchorIndex,
    outputMaps: fusion.result.outputMaps, weights: fusion.result.weights,
    measure: measureBert(parents.map((p) => p.config), anchorIndex, batches, { device: cfg.runtime.device }),
  };
  for (const p of parents) p.release();
} else {
  const parents = await loadParents(cfg.model.extraKeys, cfg.fusion.num_models);
  const anchor = parents[anchorIndex];
  const norm = resolveNormalisation({ mean: cfg.data.mean, std: cfg.data.std, preprocessor: anchor.model.preprocessor, dataset: cfg.model.dataset, channels: anchor.config.numChannels });
  const fusion = await fuseParents(parents, anchorIndex, { ...cfg, fusion: { ...cfg.fusion, repair: 'anchor' } }, norm, hooks);
  samples = fusion.samples.reduce((s, b) => s + b.count, 0);
  input = {
    graph: vitFusionGraph(anchor.config), fused: fusion.result.tensors, parents: parents.map((p) => p.model.tensors), anchor: anchorIndex,
    outputMaps: fusion.result.outputMaps, weights: fusion.result.weights, measure: measureOnSamples(parents, anchorIndex, fusion.samples),
  };
}

const target = cfg.fusion.repair === 'none' ? 'anchor' : cfg.fusion.repair;
async function timed(measure: RepairInput['measure']): Promise<{ seconds: number; tensors: Map<string, Tensor> }> {
  const t0 = performance.now();
  const tensors = await repairStatistics({ ...input, measure }, target);
  return { seconds: (performance.now() - t0) / 1000, tensors };
}
const staged = await timed(input.measure);
const whole = rest.includes('--staged-only') ? null : await timed(wholePassMeasures(input.measure, anchorIndex));
let worst = 0, scale = 0;
for (const [name, t] of whole?.tensors ?? []) {
  const u = staged.tensors.get(name)!.data;
  for (let i = 0; i < t.data.length; i++) {
    worst = Math.max(worst, Math.abs(Number(u[i]) - Number(t.data[i])));
    scale = Math.max(scale, Math.abs(Number(t.data[i])));
  }
}
process.stdout.write(`${JSON.stringify({
  config: configFile, target, samples, device: cfg.runtime.device === 'auto' ? (backendInfo().cudaAvailable ? 'cuda' : 'cpu') : cfg.runtime.device,
  threads, machine: machineDescription(threads), seconds: { staged: staged.seconds, wholePasses: whole?.seconds ?? null },
  speedup: whole ? whole.seconds / staged.seconds : null, maxWeightDiff: whole ? worst : null, maxWeight: whole ? scale : null,
})}\n`);
