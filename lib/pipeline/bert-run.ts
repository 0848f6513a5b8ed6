/**
 * One BERT experiment end to end (model.type hf_bert): load the parents (masked LMs or
 * sequence classifiers sharing a vocabulary), capture their activations on the first
 * fusion.acts.num_samples sequences of a text split (real tokens only), fuse with optimal
 * transport, average plainly when the shapes agree, evaluate everything on the test
 * split (masked-LM loss, perplexity and masked-token accuracy, or classification
 * accuracy) and write the fused models, each with the anchor's tokenizer files, and a
 * report. The stages, progress and cancellation are those of the ViT pipeline (run.ts).
 */
import { copyFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { keepUnderLoss, transformFromFlags, type ActivationStore } from '../activations.ts';
import { setThreads } from '../compute.ts';
import type { ExperimentConfig } from '../config/experiment.ts';
import { holdoutSplit } from '../data/holdout.ts';
import { InputError } from '../errors.ts';
import { graphActivations } from '../fusion/graph.ts';
import { fuse, sameShapes, vanillaAverage, type FusionParent, type FusionResult, type MapReport } from '../fusion/index.ts';
import { repairStatistics, type MeasureStats } from '../fusion/repair.ts';
import { writeFolderAtomically } from '../io/atomic-folder.ts';
import { loadModel, saveModel, type Model } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import { bertConfigFromHf, bertParameterShapes, createBertModel, type BertConfig, type BertModel } from '../models/bert.ts';
import { bertFusionGraph } from '../models/bert-graph.ts';
import { evaluateMaskedLm, evaluateTextClassifier, type MaskedLmEvalResult, type TextClassifierEvalResult } from '../text-eval.ts';
import type { TokenBatch } from '../text/batch.ts';
import { openTextDataset, type TextExample, type TextSplit } from '../text/dataset.ts';
import { encodeExamples } from '../text/sequences.ts';
import { BertTokenizer } from '../text/tokenizer.ts';
import { columnStats } from './measure.ts';
import { fusedModelsToSave, fusedResults, parameterCount, transformName, writeReportJson } from './fused-results.ts';
import { seqFilterOf } from './activations.ts';
import { chooseSamples } from './fusion-samples.ts';
import { stageClock, type RunOptions, type Stage } from './stages.ts';

/** Tokenizer files a fused model folder gets from the anchor's. */
const TOKENIZER_FILES = ['vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.json'];

export type BertTextResult =
  | ({ kind: 'masked-lm' } & MaskedLmEvalResult)
  | ({ kind: 'sequence-classification' } & TextClassifierEvalResult);

export interface BertModelResult {
  name: string;
  folder: string | null;
  parameters: number;
  test: BertTextResult | null;
}

export interface BertExperimentReport {
  architecture: 'hf_bert';
  head: 'masked-lm' | 'sequence-classification';
  parents: BertModelResult[];
  anchor: string;
  heterogeneous: boolean;
  weights: number[];
  vanilla: BertModelResult | null;
  ot: BertModelResult;
  otRepaired: (BertModelResult & { target: 'anchor' | 'mean' }) | null;
  activations: null | {
    source: string;
    requested: number;
    captured: number;
    kept: number;
    /** Real tokens (rows before any filter) in the fusion samples. */
    tokens: number;
    seqFilter: string;
    transform: string;
    bytesPerModel: number;
  };
  text: { maxLength: number; examples: string; pack: boolean; maskSeed: number; test: string | null };
  maps: Array<{ model: string; maps: MapReport[] }>;
  seconds: Partial<Record<Stage | 'total', number>>;
  output: string | null;
}

export interface BertParent {
  key: string;
  folder: string;
  model: Model;
  config: BertConfig;
  /** The parameters the fusion reads, under their HF names (tied copies and unused extras left out). */
  tensors: Map<string, Tensor>;
  /** The native model, built on first use. */
  readonly bert: BertModel;
  release(): void;
}

/** The parameters of a BERT checkpoint the forward pass uses, by the names of the native layout. */
function bertParameters(config: BertConfig, tensors: Map<string, Tensor>, folder: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const { name } of bertParameterShapes(config)) {
    const t = tensors.get(name) ?? (name === 'cls.predictions.bias' ? tensors.get('cls.predictions.decoder.bias') : undefined);
    if (!t) throw new InputError(folder, `has no tensor '${name}'`);
    out.set(name, t);
  }
  return out;
}

export async function loadBertParents(names: Record<string, string>, count: number, device: 'auto' | 'cpu' | 'cuda' = 'auto'): Promise<BertParent[]> {
  const parents: BertParent[] = [];
  for (let i = 0; i < count; i++) {
    const model = await loadModel(names[`name_${i}`]);
    const folder = model.source?.folder ?? names[`name_${i}`];
    if (model.config.model_type !== 'bert')
      throw new InputError(folder, `is a ${model.architecture}; model.type hf_bert needs BertForMaskedLM or BertForSequenceClassification models`);
    const config = bertConfigFromHf(model.config, model.architecture, `${folder}/config.json`);
    // Building the native model checks every tensor against the config, before any work.
    let bert: BertModel | null = createBertModel(config, model.tensors, { source: folder, device });
    parents.push({
      key: `name_${i}`, folder, model, config, tensors: bertParameters(config, model.tensors, folder),
      get bert() {
        bert ??= createBertModel(config, model.tensors, { source: folder, device });
        return bert;
      },
      release() { bert = null; },
    });
  }
  const first = parents[0];
  const firstVocab = await readVocab(first.folder);
  for (const p of parents.slice(1)) {
    const mismatch = (what: string, x: unknown, y: unknown) =>
      new InputError(p.folder, `has ${what} ${String(x)}, ${first.folder} has ${String(y)}; fused models must share it`);
    const a = p.config, b = first.config;
    if (a.head !== b.head) throw mismatch('a head', a.head, b.head);
    if (a.numLayers !== b.numLayers) throw mismatch('num_hidden_layers', a.numLayers, b.numLayers);
    if (a.numHeads !== b.numHeads) throw mismatch('num_attention_heads', a.numHeads, b.numHeads);
    if (a.vocabSize !== b.vocabSize) throw mismatch('vocab_size', a.vocabSize, b.vocabSize);
    if (a.maxPositions !== b.maxPositions) throw mismatch('max_position_embeddings', a.maxPositions, b.maxPositions);
    if (a.typeVocabSize !== b.typeVocabSize) throw mismatch('type_vocab_size', a.typeVocabSize, b.typeVocabSize);
    if (a.tiedDecoder !== b.tiedDecoder) throw mismatch('tie_word_embeddings', a.tiedDecoder, b.tiedDecoder);
    if (a.head === 'sequence-classification' && a.numLabels !== b.numLabels) throw mismatch('num_labels', a.numLabels, b.numLabels);
    if ((await readVocab(p.folder)) !== firstVocab)
      throw new InputError(join(p.folder, 'vocab.txt'), `differs from ${join(first.folder, 'vocab.txt')}; fused models must share a vocabulary`);
  }
  return parents;
}

async function readVocab(folder: string): Promise<string> {
  const path = join(folder, 'vocab.txt');
  if (!existsSync(path)) throw new InputError(folder, 'has no vocab.txt; a BERT model folder needs its tokenizer\'s vocabulary');
  return readFile(path, 'utf8');
}

/** Fusion samples: token batches of the chosen sequences, and their labels (classifiers with labelled data). */
interface TextSamples {
  batches: Array<{ batch: TokenBatch; labels: Int32Array | null }>;
  count: number;
  tokens: number;
  source: string;
}

async function fusionSamples(cfg: ExperimentConfig, anchor: BertParent, tokenizer: BertTokenizer): Promise<TextSamples> {
  const folder = cfg.data.activations.folder ?? cfg.data.folder;
  if (!folder) throw new InputError('data.folder', 'is needed: the fusion captures activations on a text dataset (or set data.activations.folder)');
  const act = cfg.data.activations, text = cfg.data.text;
  const classifier = anchor.config.head === 'sequence-classification';
  const wantLosses = cfg.fusion.acts.loss_thres !== false;
  if (wantLosses && !classifier)
    throw new InputError('fusion.acts.loss_thres', 'needs a loss per fusion sample; a masked LM\'s fusion samples are unmasked text, which has none');
  const data = await openTextDataset(folder, {
    split: act.split, unit: text.examples,
    labels: classifier && wantLosses ? { names: anchor.config.labelNames, numClasses: anchor.config.numLabels } : undefined,
  });
  let examples: TextExample[] = data.examples;
  let held = '';
  if (act.holdout_fraction > 0) {
    const { holdout } = holdoutSplit(examples.length, act.holdout_fraction, act.holdout_seed);
    held = ` (held-out ${holdout.length} of ${examples.length} examples: holdout fraction ${act.holdout_fraction}, seed ${act.holdout_seed})`;
    examples = Array.from(holdout, (i) => data.examples[i]);
  }
  if (text.pack && classifier) throw new InputError('data.text.pack', 'packs text for a masked LM; a classifier reads one example per sequence');
  const encodings = encodeExamples(tokenizer, examples, { maxLength: text.max_length, pack: text.pack, file: data.file });
  const n = cfg.fusion.acts.num_samples;
  const indices = chooseSamples(encodings.length, n, act.shuffle, cfg.fusion.acts.seed);
  const batches: TextSamples['batches'] = [];
  let tokens = 0;
  for (let start = 0; start < indices.length; start += cfg.data.batch_size) {
    const idx = indices.slice(start, start + cfg.data.batch_size);
    const batch = tokenizer.pad(idx.map((i) => encodings[i]));
    for (let i = 0; i < batch.mask.length; i++) tokens += batch.mask[i];
    batches.push({ batch, labels: classifier && wantLosses ? Int32Array.from(idx, (i) => examples[i].label!) : null });
  }
  const what = text.pack ? 'packed sequences' : 'sequences';
  return {
    batches, count: indices.length, tokens,
    source: `${act.shuffle ? `a random choice (seed ${cfg.fusion.acts.seed})` : `the first ${indices.length}`} ${what} of ${data.description}${held}`,
  };
}

async function captureBert(parents: BertParent[], samples: TextSamples, cfg: ExperimentConfig, only: string[], signal: AbortSignal | undefined, onBatch: (d: number, t: number) => void) {
  const acts = cfg.fusion.acts;
  const stores: ActivationStore[] = [];
  try {
    for (const [i, p] of parents.entries()) {
      stores.push(p.bert.createActivationStore({
        numSamples: samples.count, seqFilter: seqFilterOf(cfg), avgSeqItems: acts.avg_seq_items, only, maxTokens: cfg.data.text.max_length,
      }));
      let done = 0;
      for (const { batch, labels } of samples.batches) {
        await p.bert.capture(stores[i], batch, { labels: labels ?? undefined, signal });
        done += batch.count;
        onBatch(i * samples.count + done, parents.length * samples.count);
      }
      p.release();
    }
    const kept = acts.loss_thres === false ? samples.count : await keepUnderLoss(stores, acts.loss_thres, { signal });
    if (kept === 0) throw new InputError('fusion.acts.loss_thres', `no fusion sample has a loss under ${acts.loss_thres} in every model; raise the threshold`);
    for (const s of stores) await s.finalize(transformFromFlags(acts), { signal });
    return { stores, kept, bytesPerModel: stores[0].bytes };
  } catch (err) {
    for (const s of stores) s.dispose();
    throw err;
  }
}

/**
 * Statistics of linear outputs on the fusion samples (for statistics repair), of parent
 * `which` (configs[which]) or of the fused model (in the anchor's config).
 */
export function measureBert(
  configs: BertConfig[], anchor: number, batches: TokenBatch[], options: { maxTokens: number; device?: 'auto' | 'cpu' | 'cuda'; signal?: AbortSignal },
): MeasureStats {
  const count = batches.reduce((s, b) => s + b.count, 0);
  return async (which, tensors, acts) => {
    const config = configs[which === 'fused' ? anchor : which];
    const model = createBertModel(config, tensors, { source: which === 'fused' ? 'the fused model' : `parent ${which}`, device: options.device });
    const store = model.createActivationStore({ numSamples: count, seqFilter: 'none', only: acts, maxTokens: options.maxTokens });
    try {
      for (const batch of batches) await model.capture(store, batch, { signal: options.signal });
      return await columnStats(store, acts);
    } finally {
      store.dispose();
    }
  };
}

export async function runBertExperiment(cfg: ExperimentConfig, options: RunOptions = {}): Promise<BertExperimentReport> {
  if (cfg.model.type !== 'hf_bert') throw new InputError('model.type', `is ${cfg.model.type}; runBertExperiment runs hf_bert experiments`);
  if (cfg.finetune.enabled) throw new InputError('finetune.enabled', 'finetuning after the fusion is implemented for ViT experiments only (model.type hf_vit)');
  if (cfg.plots.landscape) throw new InputError('plots.landscape', 'the accuracy landscape is drawn for ViT experiments only (model.type hf_vit)');
  const { signal } = options;
  const { seconds, started, stage, done, progress } = stageClock(options);

  if (cfg.runtime.threads > 0) setThreads(cfg.runtime.threads);
  const output = cfg.output.folder;
  if (output && existsSync(output) && !cfg.output.force) throw new InputError(output, 'output folder already exists; pass --force (or output.force: true) to replace it');

  stage('load', 'loading the parent models');
  const parents = await loadBertParents(cfg.model.extraKeys, cfg.fusion.num_models, cfg.runtime.device);
  const anchorIndex = Number(cfg.fusion.anchor.slice('name_'.length));
  const anchor = parents[anchorIndex];
  const head = anchor.config.head;
  const text = cfg.data.text;
  if (text.max_length > anchor.config.maxPositions)
    throw new InputError('data.text.max_length', `${text.max_length} is more than the models' ${anchor.config.maxPositions} positions (max_position_embeddings)`);
  const tokenizer = await BertTokenizer.fromFolder(anchor.folder, { vocabSize: anchor.config.vocabSize });
  const heterogeneous = !sameShapes(parents.map((p) => p.tensors));
  const graph = bertFusionGraph(anchor.config);
  done('load');

  const needActs = cfg.fusion.type === 'acts' || cfg.fusion.resid_policy.startsWith('weighted');
  let samples: TextSamples | null = null;
  let captured: Awaited<ReturnType<typeof captureBert>> | null = null;
  try {
    if (needActs || cfg.fusion.repair !== 'none') {
      stage('activations', `capturing activations of ${cfg.fusion.acts.num_samples} sequences`);
      samples = await fusionSamples(cfg, anchor, tokenizer);
      if (needActs) captured = await captureBert(parents, samples, cfg, graphActivations(graph), signal, progress('activations'));
      done('activations');
    }

    stage('fusion', `fusing ${parents.length} BERTs into ${anchor.key} (${cfg.fusion.type}, ${cfg.fusion.ot_solver})`);
    const fusionParents: FusionParent[] = parents.map((p, i) => ({ label: p.folder, tensors: p.tensors, store: captured?.stores[i] ?? null }));
    let aligned = 0;
    const fused: FusionResult = await fuse(fusionParents, graph, cfg.fusion, {
      anchor: anchorIndex, weights: cfg.fusion.weights, signal, releaseActivations: true, onModelAligned: () => progress('fusion')(++aligned, parents.length - 1),
    });
    done('fusion');
    for (const s of captured?.stores ?? []) s.dispose();

    let repaired: Map<string, Tensor> | null = null;
    const repair = cfg.fusion.repair;
    if (repair !== 'none') {
      stage('repair', `repairing the OT model's statistics (target: ${repair})`);
      repaired = await repairStatistics({
        graph, fused: fused.tensors, parents: parents.map((p) => p.tensors), anchor: anchorIndex, outputMaps: fused.outputMaps,
        weights: fused.weights, measure: measureBert(parents.map((p) => p.config), anchorIndex, samples!.batches.map((b) => b.batch), { maxTokens: text.max_length, device: cfg.runtime.device, signal }), signal, onGroup: progress('repair'),
      }, repair);
      done('repair');
    }

    let vanilla: Map<string, Tensor> | null = null;
    if (!heterogeneous) {
      stage('vanilla', 'averaging the parents plainly (vanilla fusion)');
      vanilla = await vanillaAverage(parents.map((p) => p.tensors), fused.weights, { signal });
      done('vanilla');
    }

    let testData: TextSplit | null = null;
    if (cfg.data.folder) {
      testData = await openTextDataset(cfg.data.folder, {
        split: cfg.data.test_split, unit: text.examples,
        labels: head === 'sequence-classification' ? { names: anchor.config.labelNames, numClasses: anchor.config.numLabels } : undefined,
      });
    }
    const evaluate = async (label: string, model: BertModel): Promise<BertTextResult | null> => {
      if (!testData) return null;
      stage('evaluate', `evaluating ${label}`);
      const common = { maxLength: text.max_length, batchSize: cfg.data.batch_size, limit: cfg.data.test_limit ?? undefined, signal, onProgress: progress('evaluate') };
      const result: BertTextResult = head === 'masked-lm'
        ? { kind: 'masked-lm', ...(await evaluateMaskedLm(model, tokenizer, testData, { ...common, maskSeed: text.mask_seed, pack: text.pack })) }
        : { kind: 'sequence-classification', ...(await evaluateTextClassifier(model, tokenizer, testData, common)) };
      done('evaluate');
      return result;
    };
    const evaluateTensors = (label: string, tensors: Map<string, Tensor>) =>
      evaluate(label, createBertModel(anchor.config, tensors, { source: label, device: cfg.runtime.device }));
    const parentResults: BertModelResult[] = [];
    for (const p of parents) {
      const test = cfg.regression.only_eval_ot ? null : await evaluate(`${p.key} (${basename(p.folder)})`, p.bert);
      p.release();
      parentResults.push({ name: p.key, folder: p.folder, parameters: parameterCount(p.tensors), test });
    }
    const otTest = await evaluateTensors('the OT-fused model', fused.tensors);
    const repairedTest = repaired ? await evaluateTensors('the OT-fused model after statistics repair', repaired) : null;
    const vfTest = vanilla && !cfg.regression.only_eval_ot ? await evaluateTensors('the vanilla-fused model', vanilla) : null;

    const a = cfg.fusion.acts;
    const fusedModels = { ot: fused.tensors, repaired, vanilla, repair };
    const report: BertExperimentReport = {
      architecture: 'hf_bert',
      head,
      parents: parentResults,
      anchor: anchor.key,
      heterogeneous,
      weights: fused.weights,
      ...fusedResults(output, fusedModels, { ot: otTest, repaired: repairedTest, vanilla: vfTest }),
      activations: captured && samples && {
        source: samples.source, requested: a.num_samples, captured: samples.count, kept: captured.kept, tokens: samples.tokens,
        seqFilter: seqFilterOf(cfg), transform: transformName(a), bytesPerModel: captured.bytesPerModel,
      },
      text: { maxLength: text.max_length, examples: text.examples, pack: text.pack, maskSeed: text.mask_seed, test: testData?.description ?? null },
      maps: fused.maps.map((maps, i) => ({ model: parents[i].key, maps })).filter((_, i) => i !== anchorIndex),
      seconds,
      output,
    };

    if (output) {
      stage('save', `writing ${output}`);
      await writeFolderAtomically(output, { force: cfg.output.force, protectedFolders: parents.map((p) => p.folder) }, async (temp) => {
        const models = fusedModelsToSave(fusedModels);
        for (const [name, tensors] of models) {
          await saveModel(join(temp, name), { config: anchor.model.config, architecture: anchor.model.architecture, tensors });
          for (const f of TOKENIZER_FILES) if (existsSync(join(anchor.folder, f))) await copyFile(join(anchor.folder, f), join(temp, name, f));
        }
        await writeReportJson(temp, report, seconds, started);
      });
      done('save');
    }
    seconds.total = (performance.now() - started) / 1000;
    return report;
  } finally {
    for (const s of captured?.stores ?? []) s.dispose();
  }
}
