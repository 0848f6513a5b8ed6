/** `otfuse finetune <model-folder> --data <folder> --output <folder>`: a short training run from given weights. */
import { defaultsOf } from '../../config/validate.ts';
import { InputError } from '../../errors.ts';
import { checkRecipe, FINETUNE_DEFAULTS, recipeSection, type Recipe, type RecipeKeyName } from '../../train/recipe.ts';
import { finetuneBertFolder } from '../../train/bert-finetune.ts';
import { finetuneFolder } from '../../train/run-finetune.ts';
import { formatBertSummary, bertTrainingProgress } from '../bert-training-summary.ts';
import { DEVICE_HELP, deviceOption, formatOption, IMAGE_OPTIONS, integerOption, MASKED_LM_OPTIONS, numberOption, refuseOptions, TEXT_OPTIONS, type Command, type CommandContext } from '../command.ts';
import { bertKind } from '../model-kind.ts';
import { printJson } from '../output.ts';
import { formatSummary, trainingProgress } from '../training-summary.ts';
import { MAX_THREADS } from '../../options.ts';

const SCHEDULES = ['cosine', 'linear', 'constant'] as const;

/** The recipe keys that errors name, as this command's flags. */
const flagName: RecipeKeyName = (key) => ({ epochs: '--epochs', warmup_steps: '--warmup-steps', max_steps: '--steps' })[key];

function numberList(raw: unknown, name: string): number[] | null {
  if (raw === undefined) return null;
  const values = String(raw).split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isFinite(v))) throw new InputError(`--${name}`, `expected comma-separated numbers, got '${String(raw)}'`);
  return values;
}

/** The finetuning defaults (docs/train.md) with the command line's changes. */
export function recipeFromOptions(values: CommandContext['values']): Recipe {
  const r = defaultsOf(recipeSection('', FINETUNE_DEFAULTS));
  if (values.epochs !== undefined && values.steps !== undefined) throw new InputError('--steps', 'give --epochs or --steps, not both');
  if (values.epochs !== undefined) r.epochs = numberOption(values, 'epochs', r.epochs, 0);
  r.max_steps = integerOption(values, 'steps', 1) ?? r.max_steps;
  r.batch_size = integerOption(values, 'batch-size', 1) ?? r.batch_size;
  r.micro_batch = integerOption(values, 'micro-batch', 1) ?? r.micro_batch;
  r.learning_rate = numberOption(values, 'lr', r.learning_rate, 0);
  if (values.schedule !== undefined) {
    if (!SCHEDULES.includes(values.schedule as (typeof SCHEDULES)[number]))
      throw new InputError('--schedule', `expected one of ${SCHEDULES.join(', ')}, got '${String(values.schedule)}'`);
    r.lr_schedule = values.schedule as Recipe['lr_schedule'];
  }
  r.warmup_ratio = numberOption(values, 'warmup', r.warmup_ratio, 0, 1);
  r.warmup_steps = integerOption(values, 'warmup-steps', 0) ?? r.warmup_steps;
  r.weight_decay = numberOption(values, 'weight-decay', r.weight_decay, 0);
  r.label_smoothing = numberOption(values, 'label-smoothing', r.label_smoothing, 0, 0.999);
  r.max_grad_norm = numberOption(values, 'max-grad-norm', r.max_grad_norm, 0);
  r.seed = integerOption(values, 'seed', 0) ?? r.seed;
  r.augment.crop_padding = integerOption(values, 'crop-padding', 0) ?? r.augment.crop_padding;
  r.augment.horizontal_flip = Boolean(values.flip);
  r.eval_steps = integerOption(values, 'eval-steps', 1) ?? r.eval_steps;
  checkRecipe(r, flagName, 'otfuse finetune');
  return r;
}

async function finetuneBert(ctx: CommandContext): Promise<void> {
  const { positionals, values, signal, mode } = ctx;
  const { augment: _augment, ...recipe } = recipeFromOptions(values);
  if (values['batch-size'] === undefined) recipe.batch_size = 32;
  const examples = (values.examples as string | undefined) ?? 'lines';
  if (examples !== 'lines' && examples !== 'paragraphs') throw new InputError('--examples', `expected lines or paragraphs, got '${examples}'`);
  const overlong = (values.overlong as string | undefined) ?? 'truncate';
  if (overlong !== 'truncate' && overlong !== 'refuse') throw new InputError('--overlong', `expected truncate or refuse, got '${overlong}'`);
  const progress = bertTrainingProgress(mode);
  try {
    const report = await finetuneBertFolder({
      model: positionals[0], data: values.data as string, output: values.output as string, recipe,
      maxLength: integerOption(values, 'max-length', 3), pack: Boolean(values.pack),
      maskProbability: numberOption(values, 'mask-probability', 0.15, 0.001, 1), maskSeed: integerOption(values, 'mask-seed', 0) ?? 0,
      examples, truncation: overlong === 'truncate', trainLimit: integerOption(values, 'train-limit', 1),
      testLimit: integerOption(values, 'test-limit', 1), threads: integerOption(values, 'threads', 0, MAX_THREADS) ?? 0, device: deviceOption(values),
      force: Boolean(values.force), signal, onStep: progress.onStep, recipeKey: flagName,
    });
    progress.done();
    if (mode.json) return printJson(report);
    const i = report.initialTest;
    const before = i === null ? '' : i.perplexity !== null
      ? `before finetuning: masked-LM loss ${i.loss.toFixed(4)}, perplexity ${i.perplexity.toFixed(2)}, masked-token accuracy ${(i.accuracy * 100).toFixed(2)}%\n`
      : `before finetuning: test accuracy ${(i.accuracy * 100).toFixed(2)}%, loss ${i.loss.toFixed(4)}\n`;
    process.stdout.write(before + formatBertSummary(report));
  } finally {
    progress.done();
  }
}

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'finetune an image classifier or a BERT (e.g. a fused model) on a dataset',
  usage: 'finetune <model-folder> --data <folder> --output <folder> [--epochs n | --steps n] [--lr x] [...] [--json]',
  details: [
    'options (defaults in docs/train.md, "finetune"):',
    '  --data <folder>         dataset; its training split minus the holdout is trained on, the test split evaluated',
    '  --output <folder>       where the finetuned model goes',
    '  --epochs <x>            passes over the data, fractions allowed (default 1)',
    '  --steps <n>             optimiser steps instead of epochs',
    '  --lr <x>                peak learning rate (default 2e-4)',
    `  --schedule <s>          ${SCHEDULES.join(', ')} (default cosine)`,
    '  --warmup <ratio>        warmup fraction of the steps (default 0.1); --warmup-steps <n> instead',
    '  --weight-decay <x>      AdamW decoupled weight decay of the weight matrices (default 0.05)',
    '  --batch-size <n>        images per step (default 128); --micro-batch <n> per forward/backward pass',
    '  --label-smoothing <x>   (default 0)   --max-grad-norm <x> (default 1, 0: off)',
    '  --seed <n>              epoch order and augmentation (default 0)',
    '  --crop-padding <n>      random crops of the image padded by n pixels; --flip: random horizontal flips',
    '  --eval-steps <n>        evaluate every n steps (default: every epoch and at the end)',
    '  --holdout <fraction>    part of the training split left out (default 0.1, seed --holdout-seed 0)',
    '  --train-limit <n>, --test-limit <n>   use only the first n examples',
    '  --json                  print the summary as JSON (no progress bar)',
    '  --format <f>, --mean a,b,c --std a,b,c   data format and normalisation (default: the model\'s)',
    '  --threads <n>           native threads; --force replaces an existing output folder',
    `${DEVICE_HELP.replace('<d>      ', '<d>            ')}`,
    '',
    'a BERT folder (docs/train.md, "BERT"): --data is a text dataset; a masked LM goes on with',
    'masked-LM training, a classifier trains on train.labels. Text options:',
    '  --max-length <n>        longest sequence (default: max_position_embeddings, at most 128)',
    '  --pack                  masked LM: pack the examples into full blocks',
    '  --mask-probability <p>  masked LM: share of tokens masked (default 0.15); --mask-seed <n> of the test masking',
    '  --examples lines|paragraphs, --overlong truncate|refuse   (batch size default 32)',
  ].join('\n'),
  options: {
    data: { type: 'string' }, output: { type: 'string' }, epochs: { type: 'string' }, steps: { type: 'string' },
    lr: { type: 'string' }, schedule: { type: 'string' }, warmup: { type: 'string' }, 'warmup-steps': { type: 'string' },
    'weight-decay': { type: 'string' }, 'batch-size': { type: 'string' }, 'micro-batch': { type: 'string' },
    'label-smoothing': { type: 'string' }, 'max-grad-norm': { type: 'string' }, seed: { type: 'string' },
    'crop-padding': { type: 'string' }, flip: { type: 'boolean', default: false }, 'eval-steps': { type: 'string' },
    holdout: { type: 'string' }, 'holdout-seed': { type: 'string' }, 'train-limit': { type: 'string' }, 'test-limit': { type: 'string' },
    format: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' }, threads: { type: 'string' },
    force: { type: 'boolean', default: false }, device: { type: 'string' }, 'max-length': { type: 'string' }, pack: { type: 'boolean', default: false },
    'mask-probability': { type: 'string' }, 'mask-seed': { type: 'string' }, examples: { type: 'string' }, overlong: { type: 'string' },
  },
  positionals: { min: 1, max: 1, names: 'one model folder' },
  async run(ctx) {
    const { positionals, values, signal, mode } = ctx;
    if (typeof values.data !== 'string') throw new InputError('otfuse finetune', 'needs --data <dataset folder>');
    if (typeof values.output !== 'string') throw new InputError('otfuse finetune', 'needs --output <folder>');
    const bert = bertKind(positionals[0]);
    if (bert) {
      refuseOptions(values, IMAGE_OPTIONS, 'a BERT (a text model)');
      if (bert === 'classifier') refuseOptions(values, MASKED_LM_OPTIONS, 'a sequence classifier');
      return finetuneBert(ctx);
    }
    refuseOptions(values, TEXT_OPTIONS, 'an image model');
    const format = formatOption(values);
    const recipe = recipeFromOptions(values);
    const progress = trainingProgress(mode);
    try {
      const report = await finetuneFolder({
        model: positionals[0], data: values.data, output: values.output, recipe, format,
        holdout: { fraction: numberOption(values, 'holdout', 0.1, 0, 0.99), seed: integerOption(values, 'holdout-seed', 0) ?? 0 },
        trainLimit: integerOption(values, 'train-limit', 1), testLimit: integerOption(values, 'test-limit', 1),
        mean: numberList(values.mean, 'mean'), std: numberList(values.std, 'std'),
        threads: integerOption(values, 'threads', 0, MAX_THREADS) ?? 0, device: deviceOption(values), force: Boolean(values.force), signal,
        onLoad: progress.onLoad, onStep: progress.onStep, recipeKey: flagName,
      });
      progress.done();
      if (mode.json) return printJson(report);
      const before = report.initialTestAccuracy === null ? '' : `before finetuning: test accuracy ${(report.initialTestAccuracy * 100).toFixed(2)}%, loss ${report.initialTestLoss!.toFixed(4)}\n`;
      process.stdout.write(before + formatSummary(report));
    } finally {
      progress.done();
    }
  },
};
