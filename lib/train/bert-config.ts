/**
 * The config of `otfuse train <recipe.yaml>` for a BERT masked LM (model.model_type:
 * bert): the architecture (Hugging Face BertConfig key names, the vocabulary from a
 * vocab.txt), the text data, the recipe, where the checkpoints go and the thread count.
 * docs/train.md documents every key; a test keeps the two in step.
 */
import { parseRecipeText, readConfigFile } from '../config/load.ts';
import { bool, int, num, oneOf, optionalNum, optionalStr, section, type Infer } from '../config/schema-kit.ts';
import { InputError } from '../errors.ts';
import { trainOutputSection } from './config.ts';
import { checkRecipe, recipeFields, trainingKey, TRAIN_DEFAULTS } from './recipe.ts';
import { MAX_THREADS } from '../options.ts';

/** The recipe keys of a text run: those of the image recipe but augmentation. */
export function textRecipeFields(defaults = TRAIN_DEFAULTS) {
  const { augment: _augment, ...fields } = recipeFields(defaults);
  return {
    ...fields,
    batch_size: int(defaults.batchSize, 'sequences per optimiser step', 1),
    micro_batch: optionalNum('sequences per forward/backward pass inside a step; their gradients add up (default: the whole batch)', { int: true, min: 1 }),
    label_smoothing: num(defaults.labelSmoothing, 'label smoothing of the cross-entropy loss (masked tokens or classes)', 0, 0.999),
    seed: int(0, 'seed of the initial weights, the epoch order and the dynamic masking', 0),
  };
}

export const bertTrainSchema = section('an otfuse BERT masked-LM training run', {
  model: section('the architecture, in Hugging Face BertConfig terms', {
    model_type: oneOf(['bert'] as const, 'bert', 'bert: this recipe trains a BertForMaskedLM (otherwise the file is a ViT recipe)'),
    vocab: optionalStr('the WordPiece vocabulary, a vocab.txt (required; vocab_size is its line count); `otfuse build-vocab` makes one'),
    do_lower_case: bool(true, 'lower-case (and strip accents from) the text before WordPiece, as the vocabulary was built'),
    hidden_size: int(128, 'width of the residual stream', 1),
    num_hidden_layers: int(2, 'encoder layers', 1),
    num_attention_heads: int(4, 'attention heads; must divide hidden_size', 1),
    intermediate_size: int(512, 'MLP width', 1),
    max_position_embeddings: int(64, 'position embeddings: the longest sequence the model can read', 3),
    type_vocab_size: int(2, 'token types (segments)', 1),
    layer_norm_eps: num(1e-12, 'LayerNorm epsilon (HF BERT default)', 1e-30),
    initializer_range: num(0.02, 'std of the normal initial weights (HF initializer_range)', 0),
    init_from: optionalStr('start from the weights of this BERT folder instead of random ones (its architecture and vocabulary must match)'),
  }),
  data: section('the text data: a folder with train.txt and test.txt (docs/text-data.md)', {
    folder: optionalStr('text dataset folder (required)'),
    examples: oneOf(['lines', 'paragraphs'] as const, 'lines', 'an example is a line, or a paragraph (lines up to a blank line)'),
    max_length: int(64, 'longest sequence in tokens, [CLS] and [SEP] included (at most max_position_embeddings)', 3),
    pack: bool(true, 'run the examples together and cut full [CLS] ... [SEP] blocks of max_length (no padding); false: one sequence per example'),
    overlong: oneOf(['truncate', 'refuse'] as const, 'truncate', 'one sequence per example: cut an example longer than max_length, or refuse it naming its file and line'),
    mask_probability: num(0.15, 'share of real tokens selected for the masked-LM loss (80% [MASK], 10% random, 10% kept)', 0.001, 1),
    eval_mask_seed: int(0, 'seed of the fixed masking of the test data (every evaluation scores the same tokens)', 0),
    train_limit: optionalNum('train on the first N sequences only (quick runs)', { int: true, min: 1 }),
    test_split: oneOf(['test', 'validation', 'train'] as const, 'test', 'split evaluated during training'),
    test_limit: optionalNum('evaluate on the first N test sequences only', { int: true, min: 1 }),
  }),
  training: section('the optimiser, schedule, loss and length', textRecipeFields()),
  output: trainOutputSection(),
  runtime: section('where the work runs', {
    device: oneOf(['auto', 'cpu', 'cuda'] as const, 'auto', 'auto trains on a GPU when the addon has CUDA and one is usable'),
    threads: int(0, 'native threads (0: one per core); a run is bit-reproducible for a fixed thread count', 0, MAX_THREADS),
  }),
});

export type BertTrainConfig = Infer<typeof bertTrainSchema>;

/** True when a parsed YAML recipe asks for a BERT (model.model_type: bert). */
export function isBertRecipe(doc: unknown): boolean {
  const model = (doc as { model?: unknown } | null)?.model;
  return typeof model === 'object' && model !== null && (model as { model_type?: unknown }).model_type === 'bert';
}

function checkConsistency(cfg: BertTrainConfig, file: string): void {
  const m = cfg.model;
  if (!m.vocab && !m.init_from) throw new InputError(file, 'model.vocab: missing (the vocab.txt to train with; `otfuse build-vocab` makes one)');
  if (!cfg.data.folder) throw new InputError(file, 'data.folder: missing (the text dataset to train on)');
  if (!cfg.output.folder) throw new InputError(file, 'output.folder: missing (where the trained model goes)');
  if (m.hidden_size % m.num_attention_heads !== 0)
    throw new InputError(file, `model.num_attention_heads: ${m.num_attention_heads} does not divide model.hidden_size ${m.hidden_size}`);
  if (cfg.data.max_length > m.max_position_embeddings)
    throw new InputError(file, `data.max_length: ${cfg.data.max_length} is more than model.max_position_embeddings ${m.max_position_embeddings}`);
  checkRecipe({ ...cfg.training, augment: { crop_padding: 0, horizontal_flip: false } }, trainingKey, file);
}

/** Parses a BERT recipe document (YAML text or an already parsed one). */
export function parseBertTrainConfig(text: string, file: string, overrides: string[] = []): BertTrainConfig {
  return parseRecipeText(bertTrainSchema, text, file, overrides, checkConsistency);
}

export function loadBertTrainConfig(file: string, overrides: string[] = []): BertTrainConfig {
  return parseBertTrainConfig(readConfigFile(file), file, overrides);
}
