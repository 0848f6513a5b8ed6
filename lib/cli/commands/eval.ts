/**
 * `otfuse eval <model-folder> --data <folder>`: top-1 accuracy and mean loss of an image
 * classifier; BERT models take the text branch (eval-text.ts).
 */
import { basename } from 'node:path';
import { openDataset } from '../../data/dataset.ts';
import { resolveNormalisation } from '../../data/normalisation.ts';
import { preprocessForInput } from '../../data/preprocess.ts';
import { InputError } from '../../errors.ts';
import { evaluate } from '../../eval.ts';
import { loadModel } from '../../io/model-folder.ts';
import { vitFromModel } from '../../models/vit.ts';
import { DEVICE_HELP, deviceOption, FORMAT_HELP, formatOption, integerOption, refuseOptions, TEXT_OPTIONS, type Command } from '../command.ts';
import { printJson } from '../output.ts';
import { progressBar } from '../progress.ts';
import { evalText, TEXT_EVAL_HELP } from './eval-text.ts';


function numberList(raw: string | undefined, name: string): number[] | undefined {
  if (raw === undefined) return undefined;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) throw new InputError(`--${name}`, `expected comma-separated numbers, got '${raw}'`);
  return values;
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'accuracy and loss of an image classifier, or of a BERT on text (MLM loss, perplexity)',
  usage: 'eval <model-folder> --data <folder> [--split test] [--format auto] [--device auto|cpu|cuda] [--json]',
  details: [
    'options:',
    '  --data <folder>      dataset: CIFAR-10/100 binary batches, IDX files (MNIST, Fashion-MNIST), or an',
    '                       image folder (<split>/<class>/*.png|jpg)',
    '  --split test|train   which split (default test)',
    `  --format <f>         ${FORMAT_HELP}`,
    '  --limit <n>          only the first n examples',
    '  --batch-size <n>     images per native forward pass (default 64)',
    '  --mean a,b,c --std a,b,c   normalisation (default: the model\'s preprocessor_config.json,',
    '                       else the dataset\'s known statistics, else 0.5 / 0.5)',
    '  --resize             scale images to the model\'s input size',
    TEXT_EVAL_HELP,
    `${DEVICE_HELP.replace('<d>      ', '<d>         ')}`,
  ].join('\n'),
  options: {
    device: { type: 'string' },
    data: { type: 'string' },
    split: { type: 'string', default: 'test' },
    format: { type: 'string' },
    limit: { type: 'string' },
    'batch-size': { type: 'string' },
    mean: { type: 'string' },
    std: { type: 'string' },
    resize: { type: 'boolean', default: false },
    'max-length': { type: 'string' },
    'mask-seed': { type: 'string' },
    examples: { type: 'string' },
    pack: { type: 'boolean', default: false },
    overlong: { type: 'string' },
  },
  positionals: { min: 1, max: 1, names: 'one model folder' },
  async run(ctx) {
    const { positionals, values, signal, mode } = ctx;
    const folder = positionals[0];
    const device = deviceOption(values);
    if (typeof values.data !== 'string') throw new InputError('otfuse eval', 'needs --data <dataset folder>');
    const loaded = await loadModel(folder, { signal });
    if (loaded.config.model_type === 'bert') return evalText(folder, loaded, ctx);
    refuseOptions(values, TEXT_OPTIONS, 'an image model');
    const split = values.split as string;
    if (split !== 'test' && split !== 'train') throw new InputError('--split', `expected test or train, got '${split}'`);
    const format = formatOption(values);
    const limit = integerOption(values, 'limit', 1) ?? undefined;
    const batchSize = integerOption(values, 'batch-size', 1) ?? 64;

    const model = await vitFromModel(loaded, { device });
    const norm = resolveNormalisation({
      mean: numberList(values.mean as string | undefined, 'mean'),
      std: numberList(values.std as string | undefined, 'std'),
      preprocessor: loaded.preprocessor,
      channels: model.config.numChannels,
      dataset: basename(values.data).replace(/[-_]?(data|dataset)$/i, ''),
      names: { mean: '--mean', std: '--std' },
    });
    const dataset = await openDataset(values.data, {
      split,
      format,
      preprocess: preprocessForInput(model.input, { mean: norm.mean, std: norm.std, resize: Boolean(values.resize) || norm.resize }),
    });
    const bar = progressBar('evaluating', mode);
    const result = await evaluate(model, dataset, {
      batchSize, limit, signal,
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.done();
    const report = { model: folder, dataset: dataset.description, normalisation: norm.origin, ...result };
    if (mode.json) return printJson(report);
    process.stdout.write([
      `model       ${folder}`,
      `dataset     ${dataset.description} (normalisation: ${norm.origin})`,
      `accuracy    ${(result.accuracy * 100).toFixed(2)}% of ${result.images} images`,
      `mean loss   ${result.meanLoss.toFixed(4)}`,
      `throughput  ${result.imagesPerSecond.toFixed(0)} images/s (${result.seconds.toFixed(2)} s)`,
    ].join('\n') + '\n');
  },
};
