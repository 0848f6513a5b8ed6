/**
 * The finetuning curve of issue "OT fusion end to end": after fusing the bundled
 * Fashion-MNIST parents, finetune the OT-fused model, the repaired one, the vanilla-fused
 * one and the better parent (continued) with the same recipe for 5 %, 10 % and 25 % of a
 * parent's training budget (separate runs, each with its own schedule), and print the
 * test accuracies as a markdown table.
 *
 *   npx tsx bench/finetune/run.ts <experiment.yaml> [--budgets 0.05,0.1,0.25] [--set key=value ...]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setThreads } from '../../lib/compute.ts';
import { loadExperimentConfig } from '../../lib/config/load.ts';
import { resolveNormalisation } from '../../lib/data/normalisation.ts';
import { repairStatistics } from '../../lib/fusion/repair.ts';
import { vanillaAverage } from '../../lib/fusion/index.ts';
import { vitFusionGraph } from '../../lib/models/vit.ts';
import type { VitConfig } from '../../lib/models/vit.ts';
import { finetuneRecipe, type FinetuneCandidate } from '../../lib/pipeline/finetune-stage.ts';
import { measureOnSamples } from '../../lib/pipeline/measure.ts';
import { loadParents } from '../../lib/pipeline/parents.ts';
import { loadFinetuneData, vitFinetuner } from '../../lib/pipeline/vit-finetune-stage.ts';
import { fuseParents } from '../../lib/pipeline/vit-fusion.ts';
import { evaluateTensors } from '../../lib/train/train.ts';
import { machineDescription } from '../machine.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { budgets: { type: 'string', default: '0.05,0.1,0.25' }, set: { type: 'string', multiple: true, default: [] } } });
const cfg = loadExperimentConfig(positionals[0], values.set as string[]);
const threads = setThreads(cfg.runtime.threads);
const parents = await loadParents(cfg.model.extraKeys, cfg.fusion.num_models);
const anchorIndex = Number(cfg.fusion.anchor.slice(5));
const anchor = parents[anchorIndex];
const norm = resolveNormalisation({ mean: cfg.data.mean, std: cfg.data.std, preprocessor: anchor.model.preprocessor, dataset: cfg.model.dataset, channels: anchor.config.numChannels });
const noop = () => {};
const fusion = await fuseParents(parents, anchorIndex, cfg, norm, { stage: noop, done: noop, progress: () => noop });
const repair = cfg.fusion.repair === 'none' ? 'mean' : cfg.fusion.repair;
const repaired = await repairStatistics({
  graph: vitFusionGraph(anchor.config), fused: fusion.result.tensors, parents: parents.map((p) => p.model.tensors), anchor: anchorIndex,
  outputMaps: fusion.result.outputMaps, weights: fusion.result.weights, measure: measureOnSamples(parents, anchorIndex, fusion.samples),
}, repair);
const vanilla = await vanillaAverage(parents.map((p) => p.model.tensors), fusion.result.weights);
const data = await loadFinetuneData(cfg, anchor.config, norm);

// The parents' budget from their training records (epochs over the same training data).
const record = JSON.parse(readFileSync(join(anchor.folder, 'training.json'), 'utf8'));
const parentEpochs: number = record.epochs;
const oneShot: Record<string, number> = {};
const candidates: Array<FinetuneCandidate<VitConfig>> = [
  { name: 'OT fusion', tensors: fusion.result.tensors, config: anchor.config },
  { name: `OT fusion + repair (${repair})`, tensors: repaired, config: anchor.config },
  { name: 'vanilla fusion', tensors: vanilla, config: anchor.config },
];
let best = 0;
for (const [i, p] of parents.entries()) {
  const acc = (await evaluateTensors(p.config, p.model.tensors, data.test!)).accuracy;
  oneShot[p.key] = acc;
  if (acc > (oneShot[parents[best].key] ?? -1)) best = i;
}
candidates.push({ name: `better parent (${parents[best].key}) continued`, tensors: parents[best].model.tensors, config: parents[best].config });
for (const c of candidates) oneShot[c.name] = (await evaluateTensors(c.config, c.tensors, data.test!)).accuracy;

const budgets = (values.budgets as string).split(',').map(Number);
const results = new Map<string, number[]>();
const seconds: number[] = [];
for (const b of budgets) {
  const recipe = { ...finetuneRecipe(cfg), epochs: b * parentEpochs, max_steps: null, eval_steps: null };
  const started = performance.now();
  const train = vitFinetuner(data, recipe, norm);
  for (const c of candidates) {
    const r = await train(c, () => {});
    results.set(r.name, [...(results.get(r.name) ?? []), r.curve[r.curve.length - 1]?.testAccuracy ?? NaN]);
  }
  seconds.push((performance.now() - started) / 1000 / candidates.length);
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
console.log(`machine: ${machineDescription(threads)}`);
console.log(`experiment: ${positionals[0]}${(values.set as string[]).length ? ` with ${(values.set as string[]).join(' ')}` : ''}`);
console.log(`recipe: ${JSON.stringify({ ...finetuneRecipe(cfg), epochs: '(budget)' })}`);
console.log(`parent budget: ${parentEpochs} epochs over ${data.train.count} training images; parents' test accuracy: ${parents.map((p) => `${p.key} ${pct(oneShot[p.key])}`).join(', ')}`);
console.log('');
console.log(`| model | one-shot | ${budgets.map((b) => `${b * 100}% (${b * parentEpochs} epochs)`).join(' | ')} |`);
console.log(`| --- | ---: | ${budgets.map(() => '---:').join(' | ')} |`);
for (const c of candidates) console.log(`| ${c.name} | ${pct(oneShot[c.name])} | ${results.get(c.name)!.map(pct).join(' | ')} |`);
console.log('');
console.log(`finetuning seconds per model: ${budgets.map((b, i) => `${b * 100}%: ${seconds[i].toFixed(0)} s`).join(', ')}`);
