/**
 * The config of `otfuse train <config.yaml>`: the architecture (Hugging Face ViTConfig
 * key names), the data and its holdout, the recipe, where the checkpoints go, and the
 * thread count. docs/train.md documents every key; a test keeps the two in step.
 */
import { parseRecipeText, readConfigFile } from '../config/load.ts';
import { bool, custom, int, num, numbers, oneOf, optionalNum, optionalStr, section, type Infer } from '../config/schema-kit.ts';
import { InputError } from '../errors.ts';
import { checkRecipe, recipeSection, trainingKey, TRAIN_DEFAULTS } from './recipe.ts';
import { MAX_THREADS } from '../options.ts';

function parseLabelNames(v: unknown): string[] | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0)) return v as string[];
  throw 'expected a list of class names';
}

/** A training run's output section: the same keys for ViT and BERT recipes, so both checkpoint and resume alike. */
export function trainOutputSection() {
  return section('where the model and checkpoints go', {
    folder: optionalStr('output model folder (required); rewritten at every checkpoint'),
    force: bool(false, 'replace an existing output folder (otherwise it is an error, unless resuming)'),
    checkpoint_steps: optionalNum('also checkpoint every N steps (always after every epoch and at the end)', { int: true, min: 1 }),
    keep_state: bool(false, 'keep training_state/ (optimiser moments, step) in the final folder so that the run can be extended'),
  });
}

export const trainSchema = section('an otfuse training run', {
  model: section('the architecture, in Hugging Face ViTConfig terms', {
    image_size: int(28, 'input side length in pixels (square images)', 1),
    patch_size: int(4, 'patch side length; must divide image_size', 1),
    num_channels: int(1, 'input channels', 1),
    hidden_size: int(64, 'width of the residual stream', 1),
    num_hidden_layers: int(4, 'encoder layers', 1),
    num_attention_heads: int(4, 'attention heads; must divide hidden_size', 1),
    intermediate_size: int(128, 'MLP width', 1),
    layer_norm_eps: num(1e-12, 'LayerNorm epsilon (HF ViT default)', 1e-30),
    qkv_bias: bool(true, 'biases on the query, key and value projections'),
    initializer_range: num(0.02, 'std of the normal initial weights (HF initializer_range)', 0),
    num_labels: optionalNum('classes (default: from the data)', { int: true, min: 2 }),
    labels: custom<string[] | null>(null, 'a list of class names', 'class names by label index for id2label (default: from the data, else LABEL_<i>)', parseLabelNames),
    init_from: optionalStr('start from the weights of this model folder instead of random ones (its architecture must match the keys above)'),
  }),
  data: section('the training and test data', {
    folder: optionalStr('dataset folder (required): CIFAR-10/100 binary batches, IDX files (MNIST, Fashion-MNIST) or an image folder'),
    format: oneOf(['auto', 'cifar10', 'cifar100', 'idx', 'image_folder'] as const, 'auto', 'dataset format; auto detects it'),
    dataset: optionalStr('dataset name for the default normalisation (cifar10, cifar100, mnist, fashion_mnist; default: guessed from the folder name)'),
    mean: numbers('per-channel normalisation mean (default: the dataset\'s known statistics, else 0.5)'),
    std: numbers('per-channel normalisation std'),
    resize: bool(false, 'scale images to image_size (bilinear); otherwise a size mismatch is an error'),
    holdout_fraction: num(0.1, 'fraction of the training split held out (never trained on; the fusion takes its activation samples there)', 0, 0.99),
    holdout_seed: int(0, 'seed of the holdout choice; keep it the same for every parent so they all leave out the same examples', 0),
    train_limit: optionalNum('train on the first N remaining examples only (quick runs)', { int: true, min: 1 }),
    test_split: oneOf(['test', 'train'] as const, 'test', 'split evaluated during training'),
    test_limit: optionalNum('evaluate on the first N test examples only', { int: true, min: 1 }),
  }),
  training: recipeSection('the optimiser, schedule, loss, augmentation and length', TRAIN_DEFAULTS),
  output: trainOutputSection(),
  runtime: section('where the work runs', {
    device: oneOf(['auto', 'cpu', 'cuda'] as const, 'auto', 'auto trains on a GPU when the addon has CUDA and one is usable'),
    threads: int(0, 'native threads (0: one per core); a run is bit-reproducible for a fixed thread count', 0, MAX_THREADS),
  }),
});

export type TrainConfig = Infer<typeof trainSchema>;

function checkConsistency(cfg: TrainConfig, file: string): void {
  const m = cfg.model;
  if (!cfg.data.folder) throw new InputError(file, 'data.folder: missing (the dataset to train on)');
  if (!cfg.output.folder) throw new InputError(file, 'output.folder: missing (where the trained model goes)');
  if (m.image_size % m.patch_size !== 0)
    throw new InputError(file, `model.patch_size: ${m.patch_size} does not divide model.image_size ${m.image_size}`);
  if (m.hidden_size % m.num_attention_heads !== 0)
    throw new InputError(file, `model.num_attention_heads: ${m.num_attention_heads} does not divide model.hidden_size ${m.hidden_size}`);
  if (m.labels && m.num_labels !== null && m.labels.length !== m.num_labels)
    throw new InputError(file, `model.labels: ${m.labels.length} names for ${m.num_labels} labels`);
  for (const key of ['mean', 'std'] as const) {
    const v = cfg.data[key];
    if (v && v.length !== 1 && v.length !== m.num_channels)
      throw new InputError(file, `data.${key}: ${v.length} values for ${m.num_channels} channels`);
  }
  if ((cfg.data.mean === null) !== (cfg.data.std === null)) throw new InputError(file, `data.${cfg.data.mean ? 'std' : 'mean'}: give mean and std together`);
  if (cfg.data.std?.some((s) => !(s > 0))) throw new InputError(file, 'data.std: values must be positive');
  checkRecipe(cfg.training, trainingKey, file);
}

export function parseTrainConfig(text: string, file: string, overrides: string[] = []): TrainConfig {
  return parseRecipeText(trainSchema, text, file, overrides, checkConsistency);
}

export function loadTrainConfig(file: string, overrides: string[] = []): TrainConfig {
  return parseTrainConfig(readConfigFile(file), file, overrides);
}
