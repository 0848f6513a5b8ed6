/**
 * One experiment, end to end (what the reference's main.py does): load the parents,
 * capture their activations on the fusion samples, fuse with optimal transport, average
 * them plainly (vanilla fusion, when their shapes agree), evaluate everything on the
 * test split and write the fused models with a report. Every stage is timed and
 * reports progress; the abort signal stops it between (and inside) native steps.
 */
import { basename, join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { checkDevice, setThreads } from '../compute.ts';
import { setDefaultDevice } from '../native.ts';
import type { ExperimentConfig } from '../config/experiment.ts';
import { openDataset, type Batch, type Dataset, type HoldoutOption } from '../data/dataset.ts';
import { preprocessorConfig, resolveNormalisation, type Normalisation } from '../data/normalisation.ts';
import { preprocessForInput } from '../data/preprocess.ts';
import { InputError } from '../errors.ts';
import { evaluate, type EvaluationResult } from '../eval.ts';
import { graphActivations } from '../fusion/graph.ts';
import { fuse, sameShapes, vanillaAverage, type FusionParent, type FusionResult, type MapReport } from '../fusion/index.ts';
import { writeFolderAtomically } from '../io/atomic-folder.ts';
import { saveModel } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import { createVitModel, vitFusionGraph } from '../models/vit.ts';
import { accuracyLandscape, type Landscape } from '../report/landscape.ts';
import { landscapeSvg } from '../report/landscape-svg.ts';
import { repairStatistics } from '../fusion/repair.ts';
import { fusedModelsToSave, fusedResults, parameterCount, transformName, writeReportJson } from './fused-results.ts';
import { measureOnSamples } from './measure.ts';
import { finetuneCandidates, finetuneRecipe, loadFinetuneData, type FinetuneCandidate, type FinetuneResult } from './finetune-stage.ts';
import type { CurvePoint } from '../train/train.ts';
import { captureActivations, seqFilterOf, type CapturedActivations } from './activations.ts';
import { chooseSamples, selectedBatches } from './fusion-samples.ts';
import { loadParents, type Parent } from './parents.ts';
import { stageClock, type RunOptions, type Stage } from './stages.ts';
import { existsSync } from 'node:fs';

export type { RunOptions, Stage } from './stages.ts';

export interface ModelResult {
  name: string;
  /** Where it came from (parents) or was written (fused models; null when not saved). */
  folder: string | null;
  parameters: number;
  test: EvaluationResult | null;
}

export interface ExperimentReport {
  parents: ModelResult[];
  anchor: string;
  heterogeneous: boolean;
  weights: number[];
  vanilla: ModelResult | null;
  ot: ModelResult;
  /** The OT model after statistics repair (fusion.repair), or null without it. */
  otRepaired: (ModelResult & { target: 'anchor' | 'mean' }) | null;
  activations: null | {
    source: string;
    requested: number;
    captured: number;
    kept: number;
    seqFilter: string;
    transform: string;
    bytesPerModel: number;
  };
  normalisation: { mean: number[]; std: number[]; origin: string };
  /** Per non-anchor parent, every transport map computed while aligning it. */
  maps: Array<{ model: string; maps: MapReport[] }>;
  /** The finetuned models (finetune.enabled), each with its test accuracy curve. */
  finetuned: Array<{ name: string; from: string; steps: number; seconds: number; finalTestAccuracy: number | null; curve: CurvePoint[] }>;
  /** Test accuracy over the plane through anchor, OT and vanilla models (plots.landscape). */
  landscape: Landscape | null;
  seconds: Partial<Record<Stage | 'total', number>>;
  output: string | null;
}

async function openData(cfg: ExperimentConfig, folder: string, split: 'train' | 'test', parent: Parent, norm: Normalisation, holdout?: HoldoutOption): Promise<Dataset> {
  return openDataset(folder, {
    split,
    holdout,
    format: cfg.data.format === 'auto' ? undefined : cfg.data.format === 'image_folder' ? 'image-folder' : cfg.data.format,
    preprocess: preprocessForInput(parent.vit.input, { mean: norm.mean, std: norm.std, resize: cfg.data.resize || norm.resize }),
  });
}

/** A ViT experiment (model.type hf_vit); BERT experiments run with runBertExperiment (lib/pipeline/bert-run.ts). */
export async function runExperiment(cfg: ExperimentConfig, options: RunOptions = {}): Promise<ExperimentReport> {
  if (cfg.model.type !== 'hf_vit') throw new InputError('model.type', `is ${cfg.model.type}; runExperiment runs hf_vit experiments, runBertExperiment (or otfuse run) runs hf_bert ones`);
  // runtime.device reaches every native call of the run (forward passes, activation
  // capture, transport maps, evaluation, finetuning); the previous default comes back after.
  checkDevice(cfg.runtime.device, 'runtime.device');
  const previousDevice = setDefaultDevice(cfg.runtime.device);
  try {
    return await runExperimentOnDevice(cfg, options);
  } finally {
    setDefaultDevice(previousDevice);
  }
}

async function runExperimentOnDevice(cfg: ExperimentConfig, options: RunOptions): Promise<ExperimentReport> {
  const { signal } = options;
  const { seconds, started, stage, done, progress } = stageClock(options);

  if (cfg.runtime.threads > 0) setThreads(cfg.runtime.threads);
  const output = cfg.output.folder;
  // Refuse an existing output before any work, not after minutes of it.
  if (output && existsSync(output) && !cfg.output.force) throw new InputError(output, 'output folder already exists; pass --force (or output.force: true) to replace it');

  stage('load', 'loading the parent models');
  const parents = await loadParents(cfg.model.extraKeys, cfg.fusion.num_models);
  const anchorIndex = Number(cfg.fusion.anchor.slice('name_'.length));
  const anchor = parents[anchorIndex];
  const heterogeneous = !sameShapes(parents.map((p) => p.model.tensors));
  const norm = resolveNormalisation({ mean: cfg.data.mean, std: cfg.data.std, preprocessor: anchor.model.preprocessor, dataset: cfg.model.dataset, channels: anchor.config.numChannels });
  done('load');

  let fusion: ParentFusion | null = null;
  try {
    fusion = await fuseParents(parents, anchorIndex, cfg, norm, { signal, stage, done, progress });
    const fused = fusion.result;
    const captured = fusion.captured;
    const activationSource = fusion.activationSource;

    let repaired: Map<string, Tensor> | null = null;
    const repair = cfg.fusion.repair;
    if (repair !== 'none') {
      stage('repair', `repairing the OT model's statistics (target: ${repair})`);
      repaired = await repairStatistics({
        graph: vitFusionGraph(anchor.config), fused: fused.tensors, parents: parents.map((p) => p.model.tensors), anchor: anchorIndex,
        outputMaps: fused.outputMaps, weights: fused.weights, measure: measureOnSamples(parents, anchorIndex, fusion.samples, signal),
        signal, onGroup: progress('repair'),
      }, repair);
      done('repair');
    }

    let vanilla: Map<string, Tensor> | null = null;
    if (!heterogeneous) {
      stage('vanilla', 'averaging the parents plainly (vanilla fusion)');
      vanilla = await vanillaAverage(parents.map((p) => p.model.tensors), fused.weights, { signal });
      done('vanilla');
    }

    // Evaluation on the test split.
    let testData: Dataset | null = null;
    if (cfg.data.folder) testData = await openData(cfg, cfg.data.folder, cfg.data.test_split, anchor, norm);
    const evaluateTensors = async (name: string, tensors: Map<string, Tensor>): Promise<EvaluationResult | null> => {
      if (!testData) return null;
      stage('evaluate', `evaluating ${name}`);
      const model = createVitModel(anchor.config, tensors, { source: name });
      const r = await evaluate(model, testData, { batchSize: cfg.data.batch_size, limit: cfg.data.test_limit ?? undefined, signal, onProgress: progress('evaluate') });
      done('evaluate');
      return r;
    };
    const parentResults: ModelResult[] = [];
    for (const p of parents) {
      let test: EvaluationResult | null = null;
      if (!cfg.regression.only_eval_ot && testData) {
        stage('evaluate', `evaluating ${p.key} (${basename(p.folder)})`);
        test = await evaluate(p.vit, testData, { batchSize: cfg.data.batch_size, limit: cfg.data.test_limit ?? undefined, signal, onProgress: progress('evaluate') });
        done('evaluate');
      }
      parentResults.push({ name: p.key, folder: p.folder, parameters: parameterCount(p.model.tensors), test });
    }
    const otTest = await evaluateTensors('the OT-fused model', fused.tensors);
    const repairedTest = repaired ? await evaluateTensors('the OT-fused model after statistics repair', repaired) : null;
    const vfTest = vanilla && !cfg.regression.only_eval_ot ? await evaluateTensors('the vanilla-fused model', vanilla) : null;

    let finetuned: FinetuneResult[] = [];
    if (cfg.finetune.enabled) {
      if (!cfg.data.folder) throw new InputError('finetune.enabled', 'needs data.folder (its training split)');
      stage('finetune', 'loading the finetuning data');
      const data = await loadFinetuneData(cfg, anchor.config, norm, signal);
      const candidates: FinetuneCandidate[] = [{ name: 'ot', tensors: fused.tensors, config: anchor.config }];
      if (repaired) candidates.push({ name: 'ot-repaired', tensors: repaired, config: anchor.config });
      if (cfg.finetune.baselines) {
        if (vanilla) candidates.push({ name: 'vanilla', tensors: vanilla, config: anchor.config });
        const best = parentResults.reduce((b, p, i) => ((p.test?.accuracy ?? -1) > (parentResults[b].test?.accuracy ?? -1) ? i : b), anchorIndex);
        candidates.push({ name: `${parents[best].key} (parent)`, tensors: parents[best].model.tensors, config: parents[best].config });
      }
      finetuned = await finetuneCandidates(candidates, finetuneRecipe(cfg), data, norm, {
        signal,
        onStep: (name, p) => {
          options.onProgress?.('finetune', p.step, p.totalSteps);
          if (p.step === 1) options.onStage?.('finetune', `finetuning ${name}`);
        },
      });
      done('finetune');
    }

    let landscape: Landscape | null = null;
    if (cfg.plots.landscape) {
      if (!vanilla || !testData) throw new InputError('plots.landscape', 'needs parents of one shape (for vanilla fusion) and data.folder (for the test set)');
      const points = cfg.plots.landscape_points;
      stage('landscape', `evaluating the accuracy landscape (${points} x ${points} models)`);
      const data = testData;
      landscape = await accuracyLandscape(anchor.model.tensors, fused.tensors, vanilla, async (tensors) => {
        const model = createVitModel(anchor.config, tensors, { source: 'landscape point' });
        return (await evaluate(model, data, { batchSize: cfg.data.batch_size, limit: cfg.plots.landscape_test_limit, signal })).accuracy;
      }, { points, margin: cfg.plots.landscape_margin, signal, onPoint: progress('landscape') });
      done('landscape');
    }

    const fusedModels = { ot: fused.tensors, repaired, vanilla, repair };
    const report: ExperimentReport = {
      parents: parentResults,
      anchor: anchor.key,
      heterogeneous,
      weights: fused.weights,
      ...fusedResults(output, fusedModels, { ot: otTest, repaired: repairedTest, vanilla: vfTest }),
      activations: captured && {
        source: activationSource,
        requested: cfg.fusion.acts.num_samples,
        captured: captured.captured,
        kept: captured.kept,
        seqFilter: seqFilterOf(cfg),
        transform: transformName(cfg.fusion.acts),
        bytesPerModel: captured.bytesPerModel,
      },
      normalisation: { mean: norm.mean ?? [0.5], std: norm.std ?? [0.5], origin: norm.origin },
      maps: fused.maps.map((maps, i) => ({ model: parents[i].key, maps })).filter((_, i) => i !== anchorIndex),
      finetuned: finetuned.map((f) => ({
        name: `${f.name}+finetune`, from: f.name, steps: f.steps, seconds: f.seconds, finalTestAccuracy: f.finalTestAccuracy, curve: f.curve,
      })),
      landscape,
      seconds,
      output,
    };

    if (output) {
      stage('save', `writing ${output}`);
      const preprocessor = preprocessorConfig(report.normalisation.mean, report.normalisation.std, anchor.config.imageSize);
      await writeFolderAtomically(output, { force: cfg.output.force, protectedFolders: parents.map((p) => p.folder) }, async (temp) => {
        const models = fusedModelsToSave(fusedModels);
        for (const f of finetuned) if (f.name.startsWith('ot')) models.push([`${f.name}-finetuned`, f.tensors]);
        for (const [name, tensors] of models) {
          await saveModel(join(temp, name), { config: anchor.model.config, architecture: anchor.model.architecture, tensors, preprocessor });
        }
        if (landscape) {
          await writeFile(join(temp, 'landscape.svg'), landscapeSvg(landscape.grid, landscape.markers, {
            title: `Test accuracy on the plane through ${anchor.key} (anchor), OT and vanilla fusion`, valueLabel: 'accuracy',
          }));
        }
        await writeReportJson(temp, report, seconds, started);
      });
      done('save');
    }
    seconds.total = (performance.now() - started) / 1000;
    return report;
  } finally {
    for (const s of fusion?.captured?.stores ?? []) s.dispose();
  }
}

export interface ParentFusion {
  result: FusionResult;
  captured: CapturedActivations | null;
  activationSource: string;
  /** The fusion samples as model input, when they were loaded (activations or repair need them). */
  samples: Batch[];
}

interface StageHooks {
  signal?: AbortSignal;
  stage: (s: Stage, detail: string) => void;
  done: (s: Stage) => void;
  progress: (s: Stage) => (done: number, total: number) => void;
}

/**
 * Captures the activations the config needs (always in acts mode; in wts mode only for a
 * weighted residual policy) and fuses the parents into the anchor. The caller disposes
 * the stores (result.captured) when it no longer needs them.
 */
export async function fuseParents(parents: Parent[], anchorIndex: number, cfg: ExperimentConfig, norm: Normalisation, hooks: StageHooks): Promise<ParentFusion> {
  const { signal, stage, done, progress } = hooks;
  const anchor = parents[anchorIndex];
  const needActs = cfg.fusion.type === 'acts' || cfg.fusion.resid_policy.startsWith('weighted');
  let captured: CapturedActivations | null = null;
  let activationSource = '';
  const samples: Batch[] = [];
  if (needActs || cfg.fusion.repair !== 'none') {
    const folder = cfg.data.activations.folder ?? cfg.data.folder;
    if (!folder) throw new InputError('data.folder', `is needed: ${cfg.fusion.type === 'acts' ? 'acts mode' : cfg.fusion.resid_policy} captures activations on fusion data (or set data.activations.folder)`);
    stage('activations', `capturing activations of ${cfg.fusion.acts.num_samples} samples`);
    const act = cfg.data.activations;
    if (act.split === 'validation') throw new InputError('data.activations.split', 'validation is a split of text datasets; image datasets have train and test');
    const samplesData = await openData(cfg, folder, act.split, anchor, norm,
      act.holdout_fraction > 0 ? { fraction: act.holdout_fraction, seed: act.holdout_seed, part: 'holdout' } : undefined);
    const indices = chooseSamples(samplesData.size, cfg.fusion.acts.num_samples, act.shuffle, cfg.fusion.acts.seed);
    activationSource = `${act.shuffle ? `a random choice (seed ${cfg.fusion.acts.seed})` : `the first ${indices.length}`} of the ${samplesData.description}`;
    for await (const b of selectedBatches(samplesData, indices, cfg.data.batch_size, signal))
      samples.push({ ...b, images: b.images.slice(), labels: b.labels.slice() });
    if (needActs) {
      const only = graphActivations(vitFusionGraph(anchor.config));
      captured = await captureActivations(parents, samples, cfg, only, { signal, onBatch: progress('activations') });
    }
    done('activations');
  }
  try {
    stage('fusion', `fusing ${parents.length} models into ${anchor.key} (${cfg.fusion.type}, ${cfg.fusion.ot_solver})`);
    const fusionParents: FusionParent[] = parents.map((p, i) => ({ label: p.folder, tensors: p.model.tensors, store: captured?.stores[i] ?? null }));
    let aligned = 0;
    const result = await fuse(fusionParents, vitFusionGraph(anchor.config), cfg.fusion, {
      anchor: anchorIndex, weights: cfg.fusion.weights, signal, releaseActivations: true,
      onModelAligned: () => progress('fusion')(++aligned, parents.length - 1),
    });
    done('fusion');
    return { result, captured, activationSource, samples };
  } catch (err) {
    for (const s of captured?.stores ?? []) s.dispose();
    throw err;
  }
}
