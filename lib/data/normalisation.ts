/**
 * Which per-channel mean and std turn a dataset's images into a model's input. In order:
 * what the user gave, the model's preprocessor_config.json (HF's image processor, which
 * otfuse also writes with every model it trains or fuses), the published statistics of
 * a known dataset, and finally HF ViTImageProcessor's default of 0.5 / 0.5.
 */
import { InputError } from '../errors.ts';
import { preprocessFromHF, type PreprocessConfig } from './preprocess.ts';

export type Normalisation = Pick<PreprocessConfig, 'mean' | 'std' | 'resize'> & {
  /** Where the values came from, for reports: "given", "preprocessor_config.json", "cifar10 statistics", "default". */
  origin: string;
};

/** Training-set channel statistics of the datasets the tool knows by name. */
export const DATASET_STATISTICS: Record<string, { mean: number[]; std: number[] }> = {
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  mnist: { mean: [0.1307], std: [0.3081] },
  fashion_mnist: { mean: [0.286], std: [0.353] },
};

export interface NormalisationSources {
  mean?: number[] | null;
  std?: number[] | null;
  /** The model's preprocessor_config.json (Model.preprocessor), when it has one. */
  preprocessor?: Record<string, unknown>;
  /** A dataset name (cifar10, cifar100, mnist, fashion_mnist). */
  dataset?: string;
  /** The model's input channels: a known dataset's statistics are used only when they match, and given values must fit. */
  channels?: number;
  /** What the caller calls the given mean and std, for errors (e.g. --mean or data.mean; default mean, std). */
  names?: { mean: string; std: string };
}

export function resolveNormalisation(sources: NormalisationSources): Normalisation {
  if (sources.mean || sources.std) {
    const names = sources.names ?? { mean: 'mean', std: 'std' };
    if (!sources.mean || !sources.std) throw new InputError(sources.mean ? names.std : names.mean, `give ${names.mean} and ${names.std} together`);
    for (const [key, v] of [['mean', sources.mean], ['std', sources.std]] as const) {
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))
        throw new InputError(names[key], `must be a non-empty list of finite numbers, got ${JSON.stringify(v)}`);
    }
    for (const s of sources.std) if (!(s > 0)) throw new InputError(names.std, `must be positive, got ${s}`);
    for (const [key, v] of [['mean', sources.mean], ['std', sources.std]] as const) {
      if (sources.channels !== undefined && v.length !== 1 && v.length !== sources.channels)
        throw new InputError(names[key], `has ${v.length} values, the model has ${sources.channels} channel${sources.channels === 1 ? '' : 's'} (give one value or one per channel)`);
    }
    return { mean: sources.mean, std: sources.std, origin: 'given' };
  }
  if (sources.preprocessor) {
    return { ...preprocessFromHF(sources.preprocessor, 'preprocessor_config.json'), origin: 'preprocessor_config.json' };
  }
  const known = sources.dataset ? DATASET_STATISTICS[sources.dataset.toLowerCase().replace(/-/g, '_')] : undefined;
  if (known && (sources.channels === undefined || known.mean.length === sources.channels)) return { ...known, origin: `${sources.dataset} statistics` };
  return { mean: [0.5], std: [0.5], origin: 'default (0.5 / 0.5)' };
}

/** The preprocessor_config.json (as an object) of a model that takes images normalised this way. */
export function preprocessorConfig(mean: number[], std: number[], imageSize: number): Record<string, unknown> {
  return {
    do_normalize: true, do_rescale: true, rescale_factor: 1 / 255, do_resize: false,
    image_mean: mean, image_std: std, image_processor_type: 'ViTImageProcessor', size: { height: imageSize, width: imageSize },
  };
}

/** preprocessor_config.json text for a model trained with this normalisation. */
export function preprocessorConfigJson(mean: number[], std: number[], imageSize: number): string {
  return `${JSON.stringify(preprocessorConfig(mean, std, imageSize), null, 2)}\n`;
}
