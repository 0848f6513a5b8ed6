/**
 * The experiment config of `otfuse run`: the reference's keys (model, fusion, regression)
 * with the meaning they have there, plus this tool's additions (data, finetune, output, runtime).
 * docs/config.md documents every key; a test keeps the two in step.
 *
 * Defaults: where the reference's code falls back to a value for a missing key (ot_solver
 * emd, sinkhorn_reg 0.01, qk_fusion separate, resid_policy no_resid, ...) that value;
 * where its code requires the key, the value of its example config.
 */
import { bool, custom, int, num, numbers, oneOf, optionalNum, optionalStr, section, str, type Infer } from './schema-kit.ts';
import { FINETUNE_DEFAULTS, recipeFields } from '../train/recipe.ts';
import { MAX_THREADS } from '../options.ts';

/** `seq_filter`: null (keep every token), `only_cls`, or `window_<k>` (central k x k patches plus CLS). */
export type SeqFilter = null | { kind: 'only_cls' } | { kind: 'window'; size: number };

function parseSeqFilter(v: unknown): SeqFilter {
  if (v === null || v === undefined || v === 'None' || v === 'none' || v === false) return null;
  // Already parsed (a config object passed back in, e.g. through the programmatic API).
  if (typeof v === 'object' && (v as { kind?: string }).kind === 'only_cls') return { kind: 'only_cls' };
  if (typeof v === 'object' && (v as { kind?: string }).kind === 'window') v = `window_${(v as { size?: unknown }).size}`;
  if (v === 'only_cls') return { kind: 'only_cls' };
  const m = typeof v === 'string' ? /^window_(\d+)$/.exec(v) : null;
  if (m && Number(m[1]) >= 1) return { kind: 'window', size: Number(m[1]) };
  throw `expected null, only_cls or window_<k> (k >= 1), got ${typeof v === 'string' ? `'${v}'` : String(v)}`;
}

/** `auto`, or a boolean (YAML's yes/no/on/off arrive as booleans already). */
function parseAutoOrBool(v: unknown): 'auto' | boolean {
  if (v === 'auto' || v === true || v === false) return v;
  throw `expected auto, true or false, got ${typeof v === 'string' ? `'${v}'` : String(v)}`;
}

/** `loss_thres`: false (keep every sample) or a loss threshold. */
function parseLossThreshold(v: unknown): number | false {
  if (v === false || v === null || v === undefined) return false;
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  throw `expected false or a positive number, got ${typeof v === 'string' ? `'${v}'` : String(v)}`;
}

export const experimentSchema = section('an otfuse experiment', {
  model: section(
    'the parent models',
    {
      dataset: str('cifar10', 'dataset the parents were trained on: cifar10, cifar100, mnist, fashion_mnist, or a name of your own; picks default normalisation and the data format'),
      type: oneOf(['hf_vit', 'hf_bert'] as const, 'hf_vit', 'architecture of the parents: hf_vit (Hugging Face ViTForImageClassification) or hf_bert (BertForMaskedLM or BertForSequenceClassification; the head comes from config.json)'),
    },
    {
      patternKeys: { pattern: /^name_\d+$/, describe: 'name_0, name_1, ...: model folders' },
      ignoredKeys: { testloader: 'accepted for compatibility; the test data comes from data.test' },
    },
  ),
  fusion: section(
    'how the parents are aligned and averaged',
    {
      num_models: int(2, 'number of parents to fuse: model.name_0 .. name_{num_models-1}', 2),
      type: oneOf(['acts', 'wts'] as const, 'acts', 'acts: align neurons by their activations on fusion data; wts: by their (aligned) incoming weights'),
      resid_policy: oneOf(
        ['no_resid', 'only_resid', 'mean', 'weighted_scalar', 'weighted_matrix', 'resid_as_identity'] as const,
        'no_resid',
        'how the map on the residual stream and the map out of a sublayer combine after each residual connection',
      ),
      fuse_src_embed: bool(true, 'fuse the embeddings (class token, position embeddings, patch projection); otherwise copy the anchor\'s'),
      fuse_sa: bool(true, 'fuse self-attention; otherwise keep the non-anchor model\'s attention weights (as the reference does)'),
      qk_fusion: oneOf(['separate', 'joint', 'eq_t_map'] as const, 'separate', 'separate: own maps for W_Q and W_K; eq_t_map: one map from K and Q activations together, used for both; joint: Q and K stacked as one layer'),
      fuse_norm: bool(true, 'fuse LayerNorms; otherwise keep the non-anchor model\'s'),
      fuse_fc: bool(true, 'fuse the MLPs; otherwise keep the non-anchor model\'s'),
      fuse_bias: bool(true, 'align and average biases'),
      fuse_gen: bool(true, 'fuse the classifier; otherwise copy the anchor\'s'),
      ot_solver: oneOf(['emd', 'sinkhorn', 'sinkhorn_for_widening'] as const, 'emd', 'emd: exact OT; sinkhorn: entropic OT with sinkhorn_reg; sinkhorn_for_widening: Sinkhorn only where a layer is wider than its input map, EMD elsewhere'),
      sinkhorn_reg: num(0.01, 'entropic regularisation of Sinkhorn (the reference found 0.08 best with acts, 0.06 with wts)', 1e-6),
      pca: bool(false, 'acts mode: compare neurons in the anchor\'s top pca_k principal directions (docs/config.md)'),
      pca_k: int(1000, 'number of principal directions kept when pca is on', 1),
      anchor: str('name_1', 'the model whose shape and basis the fused model takes (the reference always uses name_1)'),
      weights: numbers('per-model weights in model order (default: 1/num_models each); normalised to sum to 1'),
      repair: oneOf(['none', 'anchor', 'mean'] as const, 'anchor', 'statistics repair after fusion: rescale every linear output so its per-neuron mean and std match the anchor\'s, or the parents\' average carried through the maps'),
      gnd_metric: section(
        'the ground metric between neurons',
        {
          type: oneOf(['euclidean', 'cosine'] as const, 'euclidean', 'euclidean distance, or cosine distance (1 - cos, clamped at 0)'),
          norm: oneOf(['log', 'max', 'median', 'mean', 'none'] as const, 'max', 'normalise the cost matrix: log (log1p), by its max, median or mean, or not at all'),
          reg: num(0.01, 'scale of the clip bounds (clip to [reg * clip_min, reg * clip_max])'),
          squared: bool(false, 'square the euclidean distance'),
          clip: bool(false, 'clip the normalised costs to [reg * clip_min, reg * clip_max]'),
          clip_min: num(0, 'lower clip bound, in units of reg'),
          clip_max: num(5, 'upper clip bound, in units of reg'),
          precision: oneOf(['float64', 'float32'] as const, 'float64', 'inner products behind the costs: float64 accumulation, or float32 (faster on wide activation sets, as precise as the reference\'s own costs; CPU only)'),
        },
        { ignoredKeys: { mem_eff: 'accepted for compatibility; costs are always computed without the n x m x d intermediate' } },
      ),
      acts: section(
        'the activations used in acts mode',
        {
          num_samples: int(200, 'number of inputs whose activations are captured (the same inputs for every model)', 1),
          seq_pos: int(-1, '-1: the tokens seq_filter chooses; p >= 0: only token p of every sequence output, in place of seq_filter', -1),
          seq_filter: custom<SeqFilter>(null, 'null, only_cls or window_<k>', 'which tokens become rows: all, the class token only, or the central k x k patches plus the class token', parseSeqFilter),
          avg_seq_items: bool(false, 'average the tokens of each sample instead of using each as a row (seq_filter is then ignored)'),
          loss_thres: custom<number | false>(false, 'false or a number', 'keep a sample only if its loss is below this in every model', parseLossThreshold),
          seed: int(0, 'seed for the choice of fusion data'),
          std: bool(true, 'standardise each neuron over the rows (unbiased std + 1e-9); takes precedence over center and norm'),
          center: bool(true, 'subtract each neuron\'s mean (when std is off)'),
          norm: bool(true, 'scale each neuron to unit L2 norm over the rows (when std and center are off)'),
        },
        {
          ignoredKeys: {
            mode: 'accepted for compatibility; has no effect in the reference either',
            pre_relu: 'accepted for compatibility; intermediate.dense is always captured before GELU',
          },
        },
      ),
      wts: section('the weights used in wts mode', {
        norm: bool(true, 'scale each neuron\'s weight row to unit norm before computing costs'),
      }),
    },
  ),
  regression: section('evaluation switches of the reference', {
    only_eval_ot: bool(false, 'evaluate only the OT-fused model (skip the parents and vanilla fusion)'),
  }),
  data: section('where the data comes from', {
    folder: optionalStr('dataset folder for evaluation (and, unless data.activations.folder is set, for fusion activations)'),
    format: oneOf(['auto', 'cifar10', 'cifar100', 'idx', 'image_folder'] as const, 'auto', 'dataset format; auto detects it from the folder'),
    test_split: oneOf(['test', 'train'] as const, 'test', 'split used for evaluation'),
    test_limit: optionalNum('evaluate on the first N test examples only (default: all)', { int: true, min: 1 }),
    batch_size: int(64, 'batch size for evaluation and activation capture', 1),
    resize: bool(false, 'scale images to the model input size (bilinear); otherwise a size mismatch is an error'),
    mean: numbers('per-channel normalisation mean (default: from model.dataset)'),
    std: numbers('per-channel normalisation std (default: from model.dataset)'),
    text: section('text datasets (model.type hf_bert; docs/text-data.md)', {
      max_length: optionalNum('tokens per sequence, [CLS] and [SEP] included, at most the model\'s max_position_embeddings (default: the smaller of 128 and max_position_embeddings)', { int: true, min: 3 }),
      examples: oneOf(['lines', 'paragraphs'] as const, 'lines', 'what one example is: a line, or a run of non-blank lines'),
      pack: bool(false, 'masked LM: run the examples together and cut full-length sequences (as HF run_mlm groups texts), for the fusion samples and the evaluation'),
      mask_seed: int(0, 'seed of the 15% masking of the masked-LM evaluation', 0),
    }),
    activations: section('the fusion data (acts mode)', {
      folder: optionalStr('dataset folder (default: data.folder)'),
      split: oneOf(['train', 'test', 'validation'] as const, 'train', 'split the fusion samples come from (validation: text datasets only)'),
      holdout_fraction: num(0.1, 'take the samples from a seeded held-out part of this size of the split (0: from the split itself, in file order)', 0, 0.99),
      holdout_seed: int(0, 'seed of that holdout: the one the parents were trained without (otfuse train\'s data.holdout_seed)', 0),
      shuffle: bool(false, 'take a random choice of samples (seeded by fusion.acts.seed) instead of the first ones'),
    }),
  }),
  finetune: section('a short training run of the fused model after the fusion (the recipe keys of docs/train.md)', {
    enabled: bool(false, 'finetune the OT-fused model (and the repaired one, with fusion.repair) on the training data minus the fusion holdout, and evaluate it'),
    baselines: bool(false, 'also finetune the vanilla-fused model and the better parent for the same steps, for comparison'),
    ...recipeFields(FINETUNE_DEFAULTS),
  }),
  output: section('what is written', {
    folder: optionalStr('folder for the fused models and report.json (default: print only)'),
    force: bool(false, 'replace an existing output folder'),
  }),
  plots: section('figures written with the results', {
    landscape: bool(false, 'evaluate the test accuracy (a BERT masked LM\'s masked-token accuracy) over the plane through the anchor, OT and vanilla models and write landscape.svg (needs same-shaped parents)'),
    landscape_points: int(9, 'grid points per axis of the landscape', 3, 41),
    landscape_margin: num(0.3, 'room around the three models, as a fraction of their extent', 0, 2),
    landscape_test_limit: int(1000, 'test examples (images or sequences) evaluated at each grid point', 1),
  }),
  runtime: section('where the work runs', {
    device: oneOf(['auto', 'cpu', 'cuda'] as const, 'auto', 'auto uses a GPU when the addon has CUDA and one is usable'),
    threads: int(0, 'native threads (0: one per core)', 0, MAX_THREADS),
    solve_ahead: custom<'auto' | boolean>('auto', 'auto | true | false', 'solve a pair\'s activation maps together before its walk (auto: when the activations are on a GPU)', parseAutoOrBool),
  }),
});

export type ExperimentConfig = Infer<typeof experimentSchema>;
