/**
 * A training recipe: the optimiser (AdamW), schedule, loss, augmentation and length of a
 * run, as one declarative schema section. `otfuse train` configs (training:), the
 * experiment's `finetune:` section and `otfuse finetune` options all use these keys,
 * with defaults that suit each; docs/train.md documents them.
 */
import { InputError } from '../errors.ts';
import type { NativeTrainerConfig } from '../native.ts';
import { bool, int, num, oneOf, optionalNum, section, type Infer } from '../config/schema-kit.ts';

/** The defaults that differ between training from scratch and finetuning. */
export interface RecipeDefaults {
  epochs: number;
  batchSize: number;
  learningRate: number;
  warmupRatio: number;
  weightDecay: number;
  labelSmoothing: number;
}

export const TRAIN_DEFAULTS: RecipeDefaults = {
  epochs: 10, batchSize: 128, learningRate: 1e-3, warmupRatio: 0.05, weightDecay: 0.05, labelSmoothing: 0,
};

export const FINETUNE_DEFAULTS: RecipeDefaults = {
  epochs: 1, batchSize: 128, learningRate: 2e-4, warmupRatio: 0.1, weightDecay: 0.05, labelSmoothing: 0,
};

export function recipeFields(d: RecipeDefaults) {
  return {
    epochs: num(d.epochs, 'passes over the training data; fractions allowed (0.5 is half an epoch)', 0),
    max_steps: optionalNum('stop after this many optimiser steps instead of counting epochs', { int: true, min: 1 }),
    batch_size: int(d.batchSize, 'images per optimiser step', 1),
    micro_batch: optionalNum('images per forward/backward pass inside a step; their gradients add up, so the step is the same up to float rounding (default: the whole batch)', { int: true, min: 1 }),
    learning_rate: num(d.learningRate, 'peak learning rate of AdamW', 0),
    lr_schedule: oneOf(['cosine', 'linear', 'constant'] as const, 'cosine', 'decay after the warmup: cosine to 0, linear to 0, or constant'),
    warmup_ratio: num(d.warmupRatio, 'fraction of the steps whose learning rate rises linearly from 0 (rounded up to whole steps)', 0, 1),
    warmup_steps: optionalNum('warmup length in steps (overrides warmup_ratio)', { int: true, min: 0 }),
    weight_decay: num(d.weightDecay, 'decoupled weight decay of AdamW, applied to the weight matrices only (never to biases, LayerNorm weights, the class token or the position embeddings)', 0),
    adam_beta1: num(0.9, 'AdamW beta1', 0, 0.999999),
    adam_beta2: num(0.999, 'AdamW beta2', 0, 0.999999),
    adam_epsilon: num(1e-8, 'AdamW epsilon', 1e-12),
    max_grad_norm: num(1.0, 'clip the gradients to this global L2 norm (0: no clipping)', 0),
    label_smoothing: num(d.labelSmoothing, 'label smoothing of the cross-entropy loss', 0, 0.999),
    seed: int(0, 'seed of the initial weights, the epoch order and the augmentation', 0),
    augment: section('data augmentation, applied natively to each batch', {
      crop_padding: int(0, 'random crop of the image zero-padded by this many pixels on each side (0: off)', 0),
      horizontal_flip: bool(false, 'flip a random half of the images left to right'),
    }),
    eval_steps: optionalNum('evaluate on the test split every N steps (default: after every epoch, and always at the end)', { int: true, min: 1 }),
  };
}

export function recipeSection(doc: string, defaults: RecipeDefaults) {
  return section(doc, recipeFields(defaults));
}

const recipeShape = recipeSection('', TRAIN_DEFAULTS);
export type Recipe = Infer<typeof recipeShape>;

/** How long a run is, in steps, for a training set of `examples`. */
export interface RunLength {
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
}

/** How errors name a recipe key: 'training.epochs' in a training config, 'finetune.epochs' in an experiment, '--epochs' on the command line. */
export type RecipeKeyName = (key: 'epochs' | 'warmup_steps' | 'max_steps') => string;
export const trainingKey: RecipeKeyName = (key) => `training.${key}`;
export const finetuneKey: RecipeKeyName = (key) => `finetune.${key}`;

/** What the recipe alone says cannot run (a warmup longer than max_steps): refused when the config is read. */
export function checkRecipe(recipe: Recipe, name: RecipeKeyName, file: string): void {
  if (recipe.max_steps !== null && recipe.warmup_steps !== null && recipe.warmup_steps > recipe.max_steps)
    throw new InputError(file, `${name('warmup_steps')}: ${recipe.warmup_steps} warmup steps is more than ${name('max_steps')} ${recipe.max_steps}`);
}

/** The run's length for a training set of `examples`; errors name the key at fault with `name`. */
export function runLength(recipe: Recipe, examples: number, name: RecipeKeyName = trainingKey): RunLength {
  if (examples < 1) throw new InputError('training data', 'is empty');
  const stepsPerEpoch = Math.ceil(examples / recipe.batch_size);
  const totalSteps = recipe.max_steps ?? Math.ceil(recipe.epochs * stepsPerEpoch - 1e-9);
  if (totalSteps < 1) throw new InputError(name('epochs'), `${recipe.epochs} epochs of ${stepsPerEpoch} steps is no step at all; give more epochs or ${name('max_steps')}`);
  const warmupSteps = recipe.warmup_steps ?? Math.ceil(recipe.warmup_ratio * totalSteps - 1e-9);
  if (warmupSteps > totalSteps) throw new InputError(name('warmup_steps'), `${warmupSteps} warmup steps is more than the run's ${totalSteps} steps`);
  return { stepsPerEpoch, totalSteps, warmupSteps };
}

/**
 * The native trainer's settings for a recipe. `fill` is the normalised value of a black
 * pixel per channel (what padding shows after normalisation).
 */
export function nativeTrainerConfig(recipe: Recipe, length: RunLength, fill: number[]): NativeTrainerConfig {
  const augmenting = recipe.augment.crop_padding > 0 || recipe.augment.horizontal_flip;
  return {
    schedule: recipe.lr_schedule,
    lr: recipe.learning_rate,
    warmupSteps: length.warmupSteps,
    totalSteps: length.totalSteps,
    beta1: recipe.adam_beta1,
    beta2: recipe.adam_beta2,
    eps: recipe.adam_epsilon,
    weightDecay: recipe.weight_decay,
    labelSmoothing: recipe.label_smoothing,
    maxGradNorm: recipe.max_grad_norm,
    augment: augmenting
      ? { cropPadding: recipe.augment.crop_padding, horizontalFlip: recipe.augment.horizontal_flip, fill, seed: recipe.seed }
      : null,
  };
}
