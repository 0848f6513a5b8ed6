/**
 * `otfuse fuse <model> <model> [...] --output <folder>`: the fusion of `otfuse run` without
 * writing a config first. The experiment is built from the arguments and the recommended
 * settings below (the config's defaults for everything else, `--set` for any key) and
 * run as `otfuse run` runs it.
 */
import { resolve } from 'node:path';
import { experimentFromDocument } from '../../config/load.ts';
import { InputError } from '../../errors.ts';
import { DEVICE_HELP, deviceOption, integerOption, type Command, type CommandContext } from '../command.ts';
import { modelKind } from '../model-kind.ts';
import { runWithProgress } from './run.ts';

/**
 * Where `fuse` starts: the settings of the reference's example experiment, the paper's
 * best for activations (a config file's missing keys mean the reference code's bare
 * defaults instead: EMD, no_resid). On the bundled Fashion-MNIST parents, 86 % one-shot
 * with repair against 36 % from the bare defaults.
 */
const RECOMMENDED_FUSION = { type: 'acts', ot_solver: 'sinkhorn', sinkhorn_reg: 0.08, resid_policy: 'mean' };

export const fuseCommand: Command = {
  name: 'fuse',
  summary: 'fuse two or more model folders into one (no config file needed)',
  usage: 'fuse <model> <model> [<model> ...] --output <folder> [--data <folder>] [--fusion-data <folder>] [--anchor <i>] [--weights w,w,...] [--set key=value ...] [--force] [--device auto|cpu|cuda] [--json]',
  details: [
    'Fuses the models onto the anchor with the settings of the reference\'s example experiment',
    '(fusion.type acts, ot_solver sinkhorn, sinkhorn_reg 0.08, resid_policy mean; activations from',
    '--data), statistics repair and the other defaults of docs/config.md; evaluates the parents and',
    'the fused models on --data\'s test split (with --fusion-data alone, nothing is evaluated); writes',
    'ot/, ot-repaired/, vanilla/ (for models of one shape) and report.json to --output.',
    '',
    'options:',
    '  --output <folder> where the fused models and report.json go (required)',
    '  --data <folder>   a dataset (images for ViTs, text for BERTs) with a test split: every model',
    '                    is evaluated there; the fusion samples come from a held-out part of its',
    '                    training split unless --fusion-data is given',
    '  --fusion-data <folder>',
    '                    where the fusion samples come from instead: the first ones of its training',
    '                    split, all of which count as unseen (no hold-out). Weights-mode fusion',
    '                    without repair needs neither',
    '  --anchor <i>      the model whose shape and neuron order the result takes, counted from 0',
    '                    (default 1: the second model, as in the reference implementation)',
    '  --weights w,w,... each model\'s weight in the average (default 1/N each)',
    '  --set key=value   any config key (repeatable), e.g. --set fusion.ot_solver=emd',
    '  --force           replace an existing output folder',
    '  --json            print the report as JSON instead of the table',
    `${DEVICE_HELP}`,
  ].join('\n'),
  options: {
    output: { type: 'string' },
    data: { type: 'string' },
    'fusion-data': { type: 'string' },
    anchor: { type: 'string' },
    weights: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    force: { type: 'boolean', default: false },
    device: { type: 'string' },
  },
  positionals: { min: 2, max: Infinity, names: 'two or more model folders' },
  async run({ positionals, values, signal, mode }) {
    if (values.output === undefined) throw new InputError('otfuse fuse', 'needs --output <folder>: where the fused models go');
    const output = pathOption(values, 'output')!, data = pathOption(values, 'data'), fusionData = pathOption(values, 'fusion-data');
    const models = positionals.map((p, i) => {
      if (p.trim() === '') throw new InputError('otfuse fuse', `model folder ${i + 1} is an empty path`);
      return resolve(p);
    });
    const anchor = integerOption(values, 'anchor', 0, models.length - 1) ?? Math.min(1, models.length - 1);
    // The kind from each readable config.json; a folder without one is left for the
    // loader, whose error says what is wrong with it.
    const kinds = models.map((m) => modelKind(m));
    const first = kinds.findIndex((k) => k !== null);
    const mixed = kinds.findIndex((k) => k !== null && k !== kinds[first]);
    if (mixed >= 0) throw new InputError(positionals[mixed], `is ${kinds[mixed] === 'bert' ? 'a BERT' : 'not a BERT'}, ${positionals[first]} ${kinds[first] === 'bert' ? 'is' : 'is not'}: fuse models of one kind`);
    const bert = kinds[first] === 'bert';
    const doc: Record<string, Record<string, unknown>> = {
      model: { type: bert ? 'hf_bert' : 'hf_vit', ...Object.fromEntries(models.map((m, i) => [`name_${i}`, m])) },
      fusion: { ...RECOMMENDED_FUSION, num_models: models.length, anchor: `name_${anchor}`, ...(typeof values.weights === 'string' ? { weights: weightList(values.weights, models.length) } : {}) },
      output: { folder: output, force: Boolean(values.force) },
      data: {
        ...(data ? { folder: data } : {}),
        ...(fusionData ? { activations: { folder: fusionData, holdout_fraction: 0 } } : {}),
      },
    };
    const device = deviceOption(values);
    if (device) doc.runtime = { device };
    const cfg = experimentFromDocument(doc, 'otfuse fuse', values.set as string[]);
    // Said in this command's terms before anything is loaded (the pipeline would name config keys).
    if (!cfg.data.folder && !cfg.data.activations.folder && (cfg.fusion.type === 'acts' || cfg.fusion.repair !== 'none'))
      throw new InputError('otfuse fuse', 'needs --data <folder> or --fusion-data <folder>: the fusion compares activations on them (weights-mode fusion without repair needs neither: --set fusion.type=wts --set fusion.repair=none)');
    await runWithProgress(cfg, signal, mode);
  },
};

/** A path option resolved against the working folder; undefined when absent, an error when empty. */
function pathOption(values: CommandContext['values'], name: string): string | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.trim() === '') throw new InputError(`--${name}`, 'expected a folder path, got an empty one');
  return resolve(raw);
}

function weightList(raw: string, count: number): number[] {
  // Plain decimals only (Number() would also take '0x10' or '' as numbers).
  const parts = raw.split(',').map((s) => s.trim());
  const weights = parts.map((s) => (/^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s) ? Number(s) : NaN));
  if (weights.length !== count || weights.some((w) => !Number.isFinite(w)))
    throw new InputError('--weights', `expected ${count} comma-separated numbers >= 0, one per model, got '${raw}'`);
  if (!weights.some((w) => w > 0)) throw new InputError('--weights', `at least one weight must be above 0, got '${raw}'`);
  return weights;
}
