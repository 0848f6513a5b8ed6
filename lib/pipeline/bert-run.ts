/**
 * One BERT experiment end to end (model.type hf_bert): load the parents (masked LMs or
 * sequence classifiers sharing a vocabulary), capture their activations on the first
 * fusion.acts.num_samples sequences of a text split (real tokens only), fuse with optimal
 * transport, average plainly when the shapes agree, evaluate everything on the test
 * split (masked-LM loss, perplexity and masked-token accuracy, or classification
 * accuracy), optionally finetune and draw the landscape, and write the fused models,
 * each with the anchor's tokenizer files, and a report. The stages, progress and
 * cancellation are those of the ViT pipeline (run.ts).
 */
import { basename } from 'node:path';
import { withThreads } from '../compute.ts';
import type { ExperimentConfig } from '../config/experiment.ts';
import { InputError } from '../errors.ts';
import { preflightOutput } from '../io/atomic-folder.ts';
import { sameShapes } from '../fusion/index.ts';
import type { Tensor } from '../io/tensor.ts';
import { createBertModel, type BertModel } from '../models/bert.ts';
import { evaluateBertText, labelsFor, type BertTextResult, type MaskedLmEvalOptions } from '../text-eval.ts';
import { openTextDataset, type TextSplit } from '../text/dataset.ts';
import { BertTokenizer } from '../text/tokenizer.ts';
import type { BertCurvePoint } from '../train/bert-train.ts';
import { fusionWarnings, seqFilterOf } from './activations.ts';
import { bertFinetuner } from './bert-finetune-stage.ts';
import { fuseBertParents, textSettings, repairBertFusion } from './bert-fusion.ts';
import { vanillaStage } from './fuse-stage.ts';
import { loadBertParents } from './bert-parents.ts';
import { finetuneStage } from './finetune-stage.ts';
import { experimentReport, inputDatasets, parameterCount, saveStage, transformName, type ReportCore } from './fused-results.ts';
import { landscapeFile, landscapeStage } from './landscape-stage.ts';
import { stageClock, type RunOptions } from './stages.ts';

export type { BertTextResult } from '../text-eval.ts';

export interface BertModelResult {
  name: string;
  folder: string | null;
  parameters: number;
  test: BertTextResult | null;
}

/** report.json of a BERT experiment; the test metric is masked-LM loss, perplexity and accuracy (or classification accuracy). */
export interface BertExperimentReport extends ReportCore<BertModelResult, BertCurvePoint, {
  /** Real tokens (rows before any filter) in the fusion samples. */
  tokens: number;
}> {
  architecture: 'hf_bert';
  head: 'masked-lm' | 'sequence-classification';
  text: { maxLength: number; examples: string; pack: boolean; maskSeed: number; test: string | null };
}

export async function runBertExperiment(experiment: ExperimentConfig, options: RunOptions = {}): Promise<BertExperimentReport> {
  if (experiment.model.type !== 'hf_bert') throw new InputError('model.type', `is ${experiment.model.type}; runBertExperiment runs hf_bert experiments`);
  // runtime.threads holds for this run only (withThreads puts the previous size back).
  return withThreads(experiment.runtime.threads, () => runBertOnThreads(experiment, options));
}

async function runBertOnThreads(experiment: ExperimentConfig, options: RunOptions): Promise<BertExperimentReport> {
  const { signal } = options;
  const { seconds, started, stage, done, progress } = stageClock(options);
  const hooks = { signal, stage, done, progress };

  const output = experiment.output.folder;
  // Refuse an output that could not be written before any work, not after minutes of it.
  if (output) await preflightOutput(output, { force: experiment.output.force, protectedFolders: Object.values(experiment.model.extraKeys), protectedData: inputDatasets(experiment), protectedFiles: options.inputFiles, forceHint: 'pass --force (or output.force: true)' });

  stage('load', 'loading the parent models');
  const parents = await loadBertParents(experiment.model.extraKeys, experiment.fusion.num_models, experiment.runtime.device, signal);
  const anchorIndex = Number(experiment.fusion.anchor.slice('name_'.length));
  const anchor = parents[anchorIndex];
  const head = anchor.config.head;
  const cfg = textSettings(experiment, anchor);
  const text = cfg.data.text;
  const tokenizer = BertTokenizer.fromModel(anchor.model);
  const heterogeneous = !sameShapes(parents.map((p) => p.tensors));
  // Opened now, so that a missing test split is reported before the fusion, not after it.
  const testData: TextSplit | null = cfg.data.folder
    ? await openTextDataset(cfg.data.folder, { split: cfg.data.test_split, unit: text.examples, labels: labelsFor(anchor.config) })
    : null;
  done('load');

  const fusion = await fuseBertParents(parents, anchorIndex, cfg, tokenizer, hooks);
  const fused = fusion.result;
  const repaired = await repairBertFusion(parents, anchorIndex, cfg, fusion, hooks);
  const vanilla = await vanillaStage(parents.map((p) => p.tensors), fused.weights, hooks);

  const evalOptions = (limit: number | undefined): MaskedLmEvalOptions =>
    ({ maxLength: text.max_length, batchSize: cfg.data.batch_size, limit, maskSeed: text.mask_seed, pack: text.pack, signal });
  const evaluate = async (label: string, model: BertModel): Promise<BertTextResult | null> => {
    if (!testData) return null;
    stage('evaluate', `evaluating ${label}`);
    const result = await evaluateBertText(model, tokenizer, testData, { ...evalOptions(cfg.data.test_limit ?? undefined), onProgress: progress('evaluate') });
    done('evaluate');
    return result;
  };
  const modelOf = (label: string, tensors: Map<string, Tensor>) => createBertModel(anchor.config, tensors, { source: label, device: cfg.runtime.device });
  const parentResults: BertModelResult[] = [];
  for (const p of parents) {
    const test = cfg.regression.only_eval_ot ? null : await evaluate(`${p.key} (${basename(p.folder)})`, await p.bert());
    p.release();
    parentResults.push({ name: p.key, folder: p.folder, parameters: parameterCount(p.tensors), test });
  }
  const otTest = await evaluate('the OT-fused model', await modelOf('the OT-fused model', fused.tensors));
  const repairedTest = repaired ? await evaluate('the OT-fused model after statistics repair', await modelOf('the repaired OT model', repaired)) : null;
  const vfTest = vanilla && !cfg.regression.only_eval_ot ? await evaluate('the vanilla-fused model', await modelOf('the vanilla-fused model', vanilla)) : null;

  const finetuned = await finetuneStage(cfg, {
    ot: fused.tensors, repaired, vanilla, anchor: anchorIndex,
    parents: parents.map((p, i) => ({ key: p.key, tensors: p.tensors, config: p.config, accuracy: parentResults[i].test?.accuracy ?? null })),
  }, () => bertFinetuner(cfg, anchor.config, tokenizer, testData, signal), hooks);

  const metric = head === 'masked-lm' ? 'masked-token accuracy' : 'test accuracy';
  const landscape = await landscapeStage(cfg, { anchor: anchor.tensors, ot: fused.tensors, vanilla }, testData && (async (tensors) =>
    (await evaluateBertText(await modelOf('landscape point', tensors), tokenizer, testData, evalOptions(cfg.plots.landscape_test_limit))).accuracy), metric, hooks);

  const a = cfg.fusion.acts;
  const { captured, samples } = fusion;
  const fusedModels = { ot: fused.tensors, repaired, vanilla, repair: cfg.fusion.repair };
  const report: BertExperimentReport = {
    architecture: 'hf_bert',
    head,
    ...experimentReport({
      parents: parentResults, anchorIndex, heterogeneous, fused, models: fusedModels,
      tests: { ot: otTest, repaired: repairedTest, vanilla: vfTest }, finetuned, landscape, seconds, output, warnings: fusionWarnings(cfg),
    }, {
      activations: captured && samples && {
        source: samples.source, requested: a.num_samples, captured: samples.count, kept: captured.kept, tokens: samples.tokens,
        seqFilter: seqFilterOf(cfg), transform: transformName(a), bytesPerModel: captured.bytesPerModel,
      },
      text: { maxLength: text.max_length, examples: text.examples, pack: text.pack, maskSeed: text.mask_seed, test: testData?.description ?? null },
    }),
  };

  await saveStage(cfg, {
    // Every model gets the anchor's tokenizer files: the fused models read text as it does.
    like: { config: anchor.model.config, architecture: anchor.model.architecture, tokenizer: anchor.model.tokenizer },
    models: fusedModels, finetuned, parents: parents.map((p) => p.folder), inputFiles: options.inputFiles,
    files: landscape ? { 'landscape.svg': landscapeFile(landscape, anchor.key, metric) } : {},
    report,
  }, hooks, { seconds, started });
  seconds.total = (performance.now() - started) / 1000;
  return report;
}
