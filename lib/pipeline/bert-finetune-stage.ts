/**
 * The BERT side of the finetuning stage (finetune-stage.ts): data.folder's training text
 * minus the fusion holdout, encoded as the experiment encodes it (data.text), and the
 * training of one candidate on it (lib/train/bert-train.ts): a masked LM goes on with
 * masked-LM training (15 % dynamic masking), a classifier trains on train.labels. The
 * test curve is scored as the experiment's evaluation scores the models.
 */
import { holdoutSplit } from '../data/holdout.ts';
import { InputError } from '../errors.ts';
import type { BertConfig } from '../models/bert.ts';
import { labelsFor } from '../text-eval.ts';
import { openTextDataset, type TextSplit } from '../text/dataset.ts';
import { encodeExamplesAsync } from '../text/sequences.ts';
import type { BertTokenizer } from '../text/tokenizer.ts';
import { trainBert, type BertCurvePoint, type TextRecipe, type TextTask } from '../train/bert-train.ts';
import { finetuneKey } from '../train/recipe.ts';
import type { BertExperimentConfig } from './bert-fusion.ts';
import { finetuneRecipe, type FinetuneOne } from './finetune-stage.ts';

/** The share of tokens masked in training and evaluation (BERT's, and otfuse train's default). */
const MASK_PROBABILITY = 0.15;

/** The finetune section's recipe for text: image augmentation has no meaning there, so asking for it is an error. */
function textRecipe(cfg: BertExperimentConfig): TextRecipe {
  const { augment, ...recipe } = finetuneRecipe(cfg);
  if (augment.crop_padding > 0) throw new InputError('finetune.augment.crop_padding', 'crops images; a BERT experiment finetunes on text, which has no image augmentation');
  if (augment.horizontal_flip) throw new InputError('finetune.augment.horizontal_flip', 'flips images; a BERT experiment finetunes on text, which has no image augmentation');
  return recipe;
}

/**
 * Loads the training text and returns the finetuning of one BERT. `test` is the
 * experiment's test split (null without one: the curve then has no test metrics).
 */
export async function bertFinetuner(
  cfg: BertExperimentConfig, config: BertConfig, tokenizer: BertTokenizer, test: TextSplit | null, signal?: AbortSignal,
): Promise<FinetuneOne<BertConfig, BertCurvePoint>> {
  const recipe = textRecipe(cfg);
  const text = cfg.data.text, act = cfg.data.activations;
  const split = await openTextDataset(cfg.data.folder!, { split: 'train', unit: text.examples, labels: labelsFor(config) });
  // The fusion samples' holdout stays out of training, as it stays out of the parents'.
  const examples = act.holdout_fraction > 0
    ? Array.from(holdoutSplit(split.examples.length, act.holdout_fraction, act.holdout_seed).rest, (i) => split.examples[i])
    : split.examples;
  const train = await encodeExamplesAsync(tokenizer, examples, { maxLength: text.max_length, pack: text.pack, file: split.file });
  const task: TextTask = config.head === 'masked-lm'
    ? { kind: 'masked-lm', maskProbability: MASK_PROBABILITY }
    : { kind: 'classification', labels: Int32Array.from(examples, (e) => e.label!) };
  const testSetup = test && {
    split: test, maxLength: text.max_length, pack: text.pack, truncation: true, maskSeed: text.mask_seed,
    maskProbability: MASK_PROBABILITY, limit: cfg.data.test_limit,
  };
  return async (c, onStep) => {
    const r = await trainBert({
      config: c.config, tensors: c.tensors, recipe, task, tokenizer, train, maxTokens: text.max_length, test: testSetup,
      signal, onStep: (p) => onStep(p.step, p.totalSteps), source: split.file, recipeKey: finetuneKey,
    });
    return { name: c.name, tensors: r.tensors, curve: r.curve, steps: r.steps, seconds: r.seconds };
  };
}
