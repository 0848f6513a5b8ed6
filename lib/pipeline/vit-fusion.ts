/**
 * The fusion of ViT parents as the experiment, the programmatic fuse() and the benchmarks
 * run it: the fusion samples (lib/pipeline/fusion-samples.ts), the parents' activations
 * on them, the OT fusion into the anchor, and the statistics repair.
 */
import type { ExperimentConfig } from '../config/experiment.ts';
import { openDataset, type Batch, type Dataset, type HoldoutOption } from '../data/dataset.ts';
import type { Normalisation } from '../data/normalisation.ts';
import { preprocessForInput } from '../data/preprocess.ts';
import { InputError } from '../errors.ts';
import { graphActivations } from '../fusion/graph.ts';
import { checkWidthSettings, type FusionResult } from '../fusion/index.ts';
import type { Tensor } from '../io/tensor.ts';
import { vitFusionGraph, vitInput } from '../models/vit.ts';
import { captureActivations, captureSummary, needsActivations, seqFilterOf, whyFusionData, type CaptureParent, type CaptureSummary, type CapturedActivations } from './activations.ts';
import { fusionStage, repairStage } from './fuse-stage.ts';
import { chooseSamples, selectedBatches } from './fusion-samples.ts';
import { measureOnSamples } from './measure.ts';
import type { Parent } from './parents.ts';
import type { StageHooks } from './stages.ts';

/** A split of an image dataset, preprocessed for `parent`'s input with the experiment's normalisation. */
export async function openImageData(cfg: ExperimentConfig, folder: string, split: 'train' | 'test', parent: Parent, norm: Normalisation, holdout?: HoldoutOption): Promise<Dataset> {
  return openDataset(folder, {
    split,
    holdout,
    format: cfg.data.format === 'auto' ? undefined : cfg.data.format === 'image_folder' ? 'image-folder' : cfg.data.format,
    preprocess: preprocessForInput(vitInput(parent.config), { mean: norm.mean, std: norm.std, resize: cfg.data.resize || norm.resize }),
  });
}

export interface ParentFusion {
  result: FusionResult;
  /** What was captured (the stores are spent by the fusion), or null without activations. */
  captured: CaptureSummary | null;
  activationSource: string;
  /** The fusion samples as model input, when they were loaded (activations or repair need them). */
  samples: Batch[];
}

/**
 * Captures the activations the config needs (always in acts mode; in wts mode only for a
 * weighted residual policy) and fuses the parents into the anchor.
 */
export async function fuseParents(parents: Parent[], anchorIndex: number, cfg: ExperimentConfig, norm: Normalisation, hooks: StageHooks): Promise<ParentFusion> {
  const { signal, stage, done, progress } = hooks;
  const anchor = parents[anchorIndex];
  const graph = vitFusionGraph(anchor.config);
  checkWidthSettings(parents.map((p) => p.model.tensors), graph, cfg.fusion);
  const needActs = needsActivations(cfg);
  let captured: CapturedActivations | null = null;
  let activationSource = '';
  const samples: Batch[] = [];
  if (needActs || cfg.fusion.repair !== 'none') {
    const folder = cfg.data.activations.folder ?? cfg.data.folder;
    if (!folder) throw new InputError('data.folder', `is needed (or data.activations.folder): ${whyFusionData(cfg)}`);
    stage('activations', `capturing activations of ${cfg.fusion.acts.num_samples} samples`);
    const act = cfg.data.activations;
    if (act.split === 'validation') throw new InputError('data.activations.split', 'validation is a split of text datasets; image datasets have train and test');
    const samplesData = await openImageData(cfg, folder, act.split, anchor, norm,
      act.holdout_fraction > 0 ? { fraction: act.holdout_fraction, seed: act.holdout_seed, part: 'holdout' } : undefined);
    const indices = chooseSamples(samplesData.size, cfg.fusion.acts.num_samples, act.shuffle, cfg.fusion.acts.seed);
    activationSource = `${act.shuffle ? `a random choice (seed ${cfg.fusion.acts.seed})` : `the first ${indices.length}`} of the ${samplesData.description}`;
    for await (const b of selectedBatches(samplesData, indices, cfg.data.batch_size, signal))
      samples.push({ ...b, images: b.images.slice(), labels: b.labels.slice() });
    if (needActs) {
      const only = graphActivations(graph), acts = cfg.fusion.acts;
      const capturing = parents.map((p): CaptureParent<Batch> => ({
        createStore: async () => (await p.vit()).createActivationStore({ numSamples: acts.num_samples, seqFilter: seqFilterOf(cfg), avgSeqItems: acts.avg_seq_items, only }),
        capture: async (store, b, sig) => (await p.vit()).capture(store, b.images, b.count, { labels: b.labels, signal: sig }),
        release: () => p.release(),
      }));
      captured = await captureActivations(capturing, samples, cfg, { signal, onBatch: progress('activations') });
    }
    done('activations');
  }
  // Models built in memory (not read by loadModel, which checks them) get the checks a
  // native build makes (every value finite) even when no activations were captured.
  if (!captured) for (const p of parents.filter((q) => !q.model.source)) { await p.vit(); p.release(); }
  const result = await fusionStage(parents.map((p) => ({ label: p.folder, tensors: p.model.tensors })), captured?.stores ?? null, graph, anchorIndex, cfg, hooks);
  return { result, captured: captureSummary(captured), activationSource, samples };
}

/** The OT model after statistics repair (fusion.repair) measured on the fusion samples, or null without it. */
export function repairVitFusion(parents: Parent[], anchorIndex: number, cfg: ExperimentConfig, fusion: ParentFusion, hooks: StageHooks): Promise<Map<string, Tensor> | null> {
  return repairStage(vitFusionGraph(parents[anchorIndex].config), fusion.result, parents.map((p) => p.model.tensors), anchorIndex, cfg,
    () => measureOnSamples(parents, anchorIndex, fusion.samples, hooks.signal), hooks);
}
