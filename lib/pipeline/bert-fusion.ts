/**
 * The fusion of BERT parents as the experiment and the programmatic fuse() run it: the
 * fusion samples (the first fusion.acts.num_samples sequences of a text split, or of its
 * seeded held-out part, or a seeded random choice), the parents' activations on them
 * (real tokens only), the OT fusion into the anchor and the statistics repair.
 */
import type { ExperimentConfig } from '../config/experiment.ts';
import { holdoutSplit } from '../data/holdout.ts';
import { InputError } from '../errors.ts';
import { graphActivations } from '../fusion/graph.ts';
import { checkWidthSettings, type FusionResult } from '../fusion/index.ts';
import type { Tensor } from '../io/tensor.ts';
import { bertFusionGraph } from '../models/bert-graph.ts';
import { labelsFor } from '../text-eval.ts';
import { sequenceLength, type TokenBatch } from '../text/batch.ts';
import { openTextDataset, type TextExample } from '../text/dataset.ts';
import { encodeExamplesAsync } from '../text/sequences.ts';
import type { BertTokenizer } from '../text/tokenizer.ts';
import { captureActivations, captureSummary, needsActivations, seqFilterOf, whyFusionData, type CaptureParent, type CaptureSummary, type CapturedActivations } from './activations.ts';
import type { BertParent } from './bert-parents.ts';
import { fusionStage, repairStage } from './fuse-stage.ts';
import { chooseSamples } from './fusion-samples.ts';
import { measureBert } from './measure.ts';
import type { StageHooks } from './stages.ts';

/** Fusion samples: token batches of the chosen sequences, and their labels (classifiers with labelled data). */
export interface TextSamples {
  batches: Array<{ batch: TokenBatch; labels: Int32Array | null; count: number }>;
  count: number;
  /** Real tokens (rows before any filter). */
  tokens: number;
  source: string;
}

export interface BertFusion {
  result: FusionResult;
  /** What was captured (the stores are spent by the fusion), or null without activations. */
  captured: CaptureSummary | null;
  /** The fusion samples, when they were loaded (activations or repair need them). */
  samples: TextSamples | null;
}

/** An hf_bert experiment whose data.text.max_length has been settled against the parents (textSettings). */
export type BertExperimentConfig = ExperimentConfig & { data: { text: { max_length: number } } };

/**
 * Settles the text settings against the anchor: an unset data.text.max_length becomes the
 * smaller of 128 and the anchor's positions; more tokens than positions, or packed text
 * for a classifier, are refused.
 */
export function textSettings(cfg: ExperimentConfig, anchor: BertParent): BertExperimentConfig {
  const { max_length: asked, pack } = cfg.data.text;
  const positions = anchor.config.maxPositions;
  if (asked !== null && asked > positions)
    throw new InputError('data.text.max_length', `${asked} is more than the models' ${positions} positions (max_position_embeddings)`);
  if (pack && anchor.config.head === 'sequence-classification')
    throw new InputError('data.text.pack', 'packs text for a masked LM; a classifier reads one example per sequence');
  const max_length = asked ?? Math.min(128, positions);
  return { ...cfg, data: { ...cfg.data, text: { ...cfg.data.text, max_length } } };
}

async function fusionSamples(cfg: BertExperimentConfig, anchor: BertParent, tokenizer: BertTokenizer): Promise<TextSamples> {
  const folder = cfg.data.activations.folder ?? cfg.data.folder;
  if (!folder) throw new InputError('data.folder', `is needed (or data.activations.folder), a text dataset: ${whyFusionData(cfg)}`);
  const act = cfg.data.activations, text = cfg.data.text;
  const classifier = anchor.config.head === 'sequence-classification';
  const wantLosses = cfg.fusion.acts.loss_thres !== false;
  if (wantLosses && !classifier)
    throw new InputError('fusion.acts.loss_thres', 'needs a loss per fusion sample; a masked LM\'s fusion samples are unmasked text, which has none');
  const data = await openTextDataset(folder, { split: act.split, unit: text.examples, labels: wantLosses ? labelsFor(anchor.config) : undefined });
  let examples: TextExample[] = data.examples;
  let held = '';
  if (act.holdout_fraction > 0) {
    const { holdout } = holdoutSplit(examples.length, act.holdout_fraction, act.holdout_seed);
    held = ` (held-out ${holdout.length} of ${examples.length} examples: holdout fraction ${act.holdout_fraction}, seed ${act.holdout_seed})`;
    examples = Array.from(holdout, (i) => data.examples[i]);
  }
  const encodings = await encodeExamplesAsync(tokenizer, examples, { maxLength: text.max_length, pack: text.pack, file: data.file });
  const indices = chooseSamples(encodings.length, cfg.fusion.acts.num_samples, act.shuffle, cfg.fusion.acts.seed);
  const batches: TextSamples['batches'] = [];
  let tokens = 0;
  for (let start = 0; start < indices.length; start += cfg.data.batch_size) {
    const idx = indices.slice(start, start + cfg.data.batch_size);
    const batch = tokenizer.pad(idx.map((i) => encodings[i]));
    for (let i = 0; i < batch.mask.length; i++) tokens += batch.mask[i];
    batches.push({ batch, labels: classifier && wantLosses ? Int32Array.from(idx, (i) => examples[i].label!) : null, count: batch.count });
  }
  const what = text.pack ? 'packed sequences' : 'sequences';
  return {
    batches, count: indices.length, tokens,
    source: `${act.shuffle ? `a random choice (seed ${cfg.fusion.acts.seed})` : `the first ${indices.length}`} ${what} of ${data.description}${held}`,
  };
}

/**
 * Captures the activations the config needs (in acts mode, or for a weighted residual
 * policy) and fuses the parents into the anchor; the samples are loaded for the repair
 * too, which measures the models on them.
 */
export async function fuseBertParents(
  parents: BertParent[], anchorIndex: number, cfg: BertExperimentConfig, tokenizer: BertTokenizer, hooks: StageHooks,
): Promise<BertFusion> {
  const { signal, stage, done, progress } = hooks;
  const graph = bertFusionGraph(parents[anchorIndex].config);
  checkWidthSettings(parents.map((p) => p.tensors), graph, cfg.fusion);
  const needActs = needsActivations(cfg);
  let samples: TextSamples | null = null;
  let captured: CapturedActivations | null = null;
  if (needActs || cfg.fusion.repair !== 'none') {
    stage('activations', `capturing activations of ${cfg.fusion.acts.num_samples} sequences`);
    samples = await fusionSamples(cfg, parents[anchorIndex], tokenizer);
    if (needActs) checkSeqPos(cfg, samples);
    if (needActs) {
      const only = graphActivations(graph), acts = cfg.fusion.acts, count = samples.count, totalTokens = samples.tokens;
      const capturing = parents.map((p): CaptureParent<TextSamples['batches'][number]> => ({
        createStore: async () => (await p.bert()).createActivationStore({
          numSamples: count, seqFilter: seqFilterOf(cfg), avgSeqItems: acts.avg_seq_items, only, maxTokens: cfg.data.text.max_length,
          // The samples are tokenised already: token-by-token entries reserve their real tokens only.
          totalTokens,
        }),
        capture: async (store, { batch, labels }, sig) => (await p.bert()).capture(store, batch, { labels: labels ?? undefined, signal: sig }),
        release: () => p.release(),
      }));
      captured = await captureActivations(capturing, samples.batches, cfg, { signal, onBatch: progress('activations') });
    }
    done('activations');
  }
  const result = await fusionStage(parents.map((p) => ({ label: p.folder, tensors: p.tensors })), captured?.stores ?? null, graph, anchorIndex, cfg, hooks, 'BERTs');
  return { result, captured: captureSummary(captured), samples };
}

/** acts.seq_pos on text: every fusion sequence must have a real token at that position. */
function checkSeqPos(cfg: BertExperimentConfig, samples: TextSamples): void {
  const p = cfg.fusion.acts.seq_pos;
  if (p < 0 || cfg.fusion.acts.avg_seq_items) return;
  let index = 0;
  for (const { batch } of samples.batches) {
    for (let i = 0; i < batch.count; i++, index++) {
      const length = sequenceLength(batch, i);
      if (p >= length)
        throw new InputError('fusion.acts.seq_pos', `position ${p} is past the end of fusion sequence ${index}, which has ${length} real tokens; choose a position below the shortest sequence, or pack the text (data.text.pack)`);
    }
  }
}

/** The OT model after statistics repair (fusion.repair) measured on the fusion samples, or null without it. */
export function repairBertFusion(parents: BertParent[], anchorIndex: number, cfg: BertExperimentConfig, fusion: BertFusion, hooks: StageHooks): Promise<Map<string, Tensor> | null> {
  const batches = fusion.samples?.batches.map((b) => b.batch) ?? [];
  return repairStage(bertFusionGraph(parents[anchorIndex].config), fusion.result, parents.map((p) => p.tensors), anchorIndex, cfg,
    () => measureBert(parents.map((p) => p.config), anchorIndex, batches, { device: cfg.runtime.device, signal: hooks.signal }), hooks);
}
