/**
 * Dataset images -> model input: the normalisation and resizing rules, checked once per
 * source shape, and the batch conversion (done natively in one pass per image).
 */
import { InputError } from '../errors.ts';
import { native, runTask, type NativeImageSource, type NativeImageTarget, type TaskOptions } from '../native.ts';

export interface PreprocessConfig {
  /** The model's input size: a side length, or [height, width]. */
  imageSize: number | [number, number];
  /** The model's input channels. */
  channels: number;
  /** Per-channel mean and std on the [0, 1] scale; one value applies to every channel. Default 0.5 / 0.5 (HF ViTImageProcessor). */
  mean?: number[];
  std?: number[];
  /** Scale images of another size to the model's (bilinear, antialiased when shrinking). Default false: a size mismatch is an error. */
  resize?: boolean;
  /** Grayscale -> RGB (replicated), RGB -> grayscale (luminance), alpha dropped. Default true; false makes a channel mismatch an error. */
  convertChannels?: boolean;
}

/** The shape of the 8-bit images a dataset stores. Two- and four-channel sources carry alpha last. */
export type SourceShape = NativeImageSource;

export interface ModelInputShape {
  channels: number;
  height: number;
  width: number;
}

export function inputShape(config: PreprocessConfig): ModelInputShape {
  const [height, width] = Array.isArray(config.imageSize) ? config.imageSize : [config.imageSize, config.imageSize];
  return { channels: config.channels, height, width };
}

function perChannel(values: number[] | undefined, fallback: number, channels: number, key: string): number[] {
  const v = values ?? [fallback];
  if (v.length === 1) return new Array<number>(channels).fill(v[0]);
  if (v.length !== channels) throw new InputError(`preprocess.${key}`, `has ${v.length} values, the model has ${channels} channels`);
  return v;
}

/**
 * How images of `source` shape become the model's input, or an InputError naming the
 * dataset (`where`) and what does not fit.
 */
export function planTarget(where: string, source: SourceShape, config: PreprocessConfig): NativeImageTarget {
  const want = inputShape(config);
  if ((source.height !== want.height || source.width !== want.width) && !config.resize)
    throw new InputError(where, `images are ${source.height}x${source.width}, the model expects ${want.height}x${want.width} (resize them: --resize, data.resize in a config, resize: true in evaluate options)`);
  // Alpha (the last of 2 or 4 channels) never reaches the model.
  const colour = source.channels === 2 || source.channels === 4 ? source.channels - 1 : source.channels;
  const convert = config.convertChannels ?? true;
  let rule: NativeImageTarget['rule'];
  if (colour === want.channels) rule = 'copy';
  else if (colour === 1 && convert) rule = 'replicate';
  else if (colour === 3 && want.channels === 1 && convert) rule = 'luminance';
  else
    throw new InputError(where, `images have ${colour} channel${colour === 1 ? '' : 's'}, the model expects ${want.channels}` +
      (convert ? '' : ' (channel conversion is off)'));
  for (const s of config.std ?? []) if (!(s > 0)) throw new InputError('preprocess.std', `must be positive, got ${s}`);
  return {
    height: want.height, width: want.width, channels: want.channels, rule,
    mean: perChannel(config.mean, 0.5, want.channels, 'mean'),
    std: perChannel(config.std, 0.5, want.channels, 'std'),
  };
}

/** Converts `count` images of one source shape into `out` (count x C x H x W floats at its start). */
export async function preprocessInto(
  out: Float32Array, pixels: Uint8Array, count: number, source: SourceShape, target: NativeImageTarget, options: TaskOptions = {},
): Promise<void> {
  await runTask(options, (o) => native().preprocessImages(pixels, count, source, target, out, o));
}

/** The preprocessing for a model's input, with normalisation and conversion options. */
export function preprocessForInput(
  input: ModelInputShape, options: Omit<PreprocessConfig, 'imageSize' | 'channels'> = {},
): PreprocessConfig {
  return { ...options, imageSize: [input.height, input.width], channels: input.channels };
}

/**
 * Normalisation and resizing from a Hugging Face image processor config
 * (preprocessor_config.json: image_mean, image_std, do_normalize, do_resize).
 */
export function preprocessFromHF(
  processor: Record<string, unknown>, source = 'preprocessor_config.json',
): Omit<PreprocessConfig, 'imageSize' | 'channels'> {
  const list = (key: string): number[] | undefined => {
    const v = processor[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))
      throw new InputError(`${source}: ${key}`, `must be a list of numbers, got ${JSON.stringify(v)}`);
    return v as number[];
  };
  if (processor.rescale_factor !== undefined && Math.abs(Number(processor.rescale_factor) - 1 / 255) > 1e-9)
    throw new InputError(`${source}: rescale_factor`, `only 1/255 is supported, got ${JSON.stringify(processor.rescale_factor)}`);
  const normalize = processor.do_normalize !== false;
  return {
    mean: normalize ? list('image_mean') : [0],
    std: normalize ? list('image_std') : [1],
    resize: processor.do_resize === true,
  };
}
