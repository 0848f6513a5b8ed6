/**
 * One ViT experiment, end to end (what the reference's main.py does): load the parents,
 * capture their activations on the fusion samples, fuse with optimal transport, average
 * them plainly (vanilla fusion, when their shapes agree), evaluate everything on the
 * test split, optionally finetune and draw the landscape, and write the fused models
 * with a report. Every stage is timed and
 * reports progress; the abort signal stops it between (and inside) native steps.
 */
import { basename } from 'node:path';
import { checkDevice, withThreads } from '../compute.ts';
import type { ExperimentConfig } from '../config/experiment.ts';
import type { Dataset } from '../data/dataset.ts';
import { preprocessorConfig, resolveNormalisation } from '../data/normalisation.ts';
import { InputError } from '../errors.ts';
import { preflightOutput } from '../io/atomic-folder.ts';
import { evaluate, type EvaluationResult } from '../eval.ts';
import { sameShapes } from '../fusion/index.ts';
import type { Tensor } from '../io/tensor.ts';
import { createVitModel, type VitModel } from '../models/vit.ts';
import { setDefaultDevice } from '../native.ts';
import type { CurvePoint } from '../train/train.ts';
import { fusionWarnings, seqFilterOf } from './activations.ts';
import { finetuneRecipe, finetuneStage } from './finetune-stage.ts';
import { experimentReport, inputDatasets, parameterCount, saveStage, transformName, type ReportCore } from './fused-results.ts';
import { landscapeFile, landscapeStage } from './landscape-stage.ts';
import { loadParents } from './parents.ts';
import { stageClock, type RunOptions } from './stages.ts';
import { loadFinetuneData, vitFinetuner } from './vit-finetune-stage.ts';
import { vanillaStage } from './fuse-stage.ts';
import { fuseParents, openImageData, repairVitFusion } from './vit-fusion.ts';

export type { RunOptions, Stage } from './stages.ts';

export interface ModelResult {
  name: string;
  /** Where it came from (parents) or was written (fused models; null when not saved). */
  folder: string | null;
  parameters: number;
  test: EvaluationResult | null;
}

/** report.json of a ViT experiment; the test metric is top-1 accuracy and mean loss. */
export interface ExperimentReport extends ReportCore<ModelResult, CurvePoint> {
  normalisation: { mean: number[]; std: number[]; origin: string };
}

/** A ViT experiment (model.type hf_vit); BERT experiments run with runBertExperiment (lib/pipeline/bert-run.ts). */
export async function runExperiment(cfg: ExperimentConfig, options: RunOptions = {}): Promise<ExperimentReport> {
  if (cfg.model.type !== 'hf_vit') throw new InputError('model.type', `is ${cfg.model.type}; runExperiment runs hf_vit experiments, runBertExperiment (or otfuse run) runs hf_bert ones`);
  // runtime.device reaches every native call of the run (forward passes, activation
  // capture, transport maps, evaluation, finetuning); the previous default comes back after.
  checkDevice(cfg.runtime.device, 'runtime.device');
  const previousDevice = setDefaultDevice(cfg.runtime.device);
  try {
    return await withThreads(cfg.runtime.threads, () => runExperimentOnDevice(cfg, options));
  } finally {
    setDefaultDevice(previousDevice);
  }
}

async function runExperimentOnDevice(cfg: ExperimentConfig, options: RunOptions): Promise<ExperimentReport> {
  const { signal } = options;
  const { seconds, started, stage, done, progress } = stageClock(options);
  const hooks = { signal, stage, done, progress };

  const output = cfg.output.folder;
  // Refuse an output that could not be written before any work, not after minutes of it.
  if (output) await preflightOutput(output, { force: cfg.output.force, protectedFolders: Object.values(cfg.model.extraKeys), protectedData: inputDatasets(cfg), protectedFiles: options.inputFiles, forceHint: 'pass --force (or output.force: true)' });

  stage('load', 'loading the parent models');
  const parents = await loadParents(cfg.model.extraKeys, cfg.fusion.num_models, signal);
  const anchorIndex = Number(cfg.fusion.anchor.slice('name_'.length));
  const anchor = parents[anchorIndex];
  const heterogeneous = !sameShapes(parents.map((p) => p.model.tensors));
  const norm = resolveNormalisation({
    mean: cfg.data.mean, std: cfg.data.std, preprocessor: anchor.model.preprocessor, dataset: cfg.model.dataset, channels: anchor.config.numChannels,
    names: { mean: 'data.mean', std: 'data.std' },
  });
  // The test split for the evaluation, opened now so that a missing one is reported
  // before the fusion, not after it.
  let testData: Dataset | null = null;
  if (cfg.data.folder) testData = await openImageData(cfg, cfg.data.folder, cfg.data.test_split, anchor, norm);
  done('load');

  const fusion = await fuseParents(parents, anchorIndex, cfg, norm, hooks);
  const fused = fusion.result;
  const repaired = await repairVitFusion(parents, anchorIndex, cfg, fusion, hooks);
  const vanilla = await vanillaStage(parents.map((p) => p.model.tensors), fused.weights, hooks);

  const evaluateModel = async (name: string, model: VitModel): Promise<EvaluationResult> => {
    stage('evaluate', `evaluating ${name}`);
    const r = await evaluate(model, testData!, { batchSize: cfg.data.batch_size, limit: cfg.data.test_limit ?? undefined, signal, onProgress: progress('evaluate') });
    done('evaluate');
    return r;
  };
  const evaluateTensors = async (name: string, tensors: Map<string, Tensor>): Promise<EvaluationResult | null> =>
    testData ? evaluateModel(name, await createVitModel(anchor.config, tensors, { source: name })) : null;
  const parentResults: ModelResult[] = [];
  for (const p of parents) {
    const test = !cfg.regression.only_eval_ot && testData ? await evaluateModel(`${p.key} (${basename(p.folder)})`, await p.vit()) : null;
    parentResults.push({ name: p.key, folder: p.folder, parameters: parameterCount(p.model.tensors), test });
  }
  const otTest = await evaluateTensors('the OT-fused model', fused.tensors);
  const repairedTest = repaired ? await evaluateTensors('the OT-fused model after statistics repair', repaired) : null;
  const vfTest = vanilla && !cfg.regression.only_eval_ot ? await evaluateTensors('the vanilla-fused model', vanilla) : null;

  const finetuned = await finetuneStage(cfg, {
    ot: fused.tensors, repaired, vanilla, anchor: anchorIndex,
    parents: parents.map((p, i) => ({ key: p.key, tensors: p.model.tensors, config: p.config, accuracy: parentResults[i].test?.accuracy ?? null })),
  }, async () => vitFinetuner(await loadFinetuneData(cfg, anchor.config, norm, signal), finetuneRecipe(cfg), norm, signal), hooks);

  const landscape = await landscapeStage(cfg, { anchor: anchor.model.tensors, ot: fused.tensors, vanilla }, testData && (async (tensors) => {
    const model = await createVitModel(anchor.config, tensors, { source: 'landscape point' });
    return (await evaluate(model, testData, { batchSize: cfg.data.batch_size, limit: cfg.plots.landscape_test_limit, signal })).accuracy;
  }), 'test accuracy', hooks);

  const fusedModels = { ot: fused.tensors, repaired, vanilla, repair: cfg.fusion.repair };
  const { captured } = fusion;
  const normalisation = { mean: norm.mean ?? [0.5], std: norm.std ?? [0.5], origin: norm.origin };
  const report: ExperimentReport = experimentReport({
    parents: parentResults, anchorIndex, heterogeneous, fused, models: fusedModels,
    tests: { ot: otTest, repaired: repairedTest, vanilla: vfTest }, finetuned, landscape, seconds, output, warnings: fusionWarnings(cfg),
  }, {
    activations: captured && {
      source: fusion.activationSource, requested: cfg.fusion.acts.num_samples, captured: captured.captured, kept: captured.kept,
      seqFilter: seqFilterOf(cfg), transform: transformName(cfg.fusion.acts), bytesPerModel: captured.bytesPerModel,
    },
    normalisation,
  });

  await saveStage(cfg, {
    like: { config: anchor.model.config, architecture: anchor.model.architecture, preprocessor: preprocessorConfig(normalisation.mean, normalisation.std, anchor.config.imageSize) },
    models: fusedModels, finetuned, parents: parents.map((p) => p.folder), inputFiles: options.inputFiles,
    files: landscape ? { 'landscape.svg': landscapeFile(landscape, anchor.key, 'test accuracy') } : {},
    report,
  }, hooks, { seconds, started });
  seconds.total = (performance.now() - started) / 1000;
  return report;
}
