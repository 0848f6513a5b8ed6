/**
 * The shape of an otfuse subcommand and the argument parsing they share. Options are
 * declared per command and parsed strictly: an unknown option or a missing value is an
 * InputError naming it.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../errors.ts';
import { checkDevice } from '../compute.ts';
import type { DatasetFormat } from '../data/source.ts';
import type { Device } from '../native.ts';
import type { OutputMode } from './output.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  /** Aborted on Ctrl-C: pass it to every long call. */
  signal: AbortSignal;
  mode: OutputMode;
}

export interface Command {
  name: string;
  summary: string;
  /** Usage line without the program name, e.g. "inspect <model-folder> [--json]". */
  usage: string;
  /** Extra help text: what the options mean. */
  details?: string;
  options: OptionSpec;
  positionals: { min: number; max: number; names: string };
  run(ctx: CommandContext): Promise<void>;
}

/** Options every command accepts. */
export const commonOptions: OptionSpec = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

export function parseCommandArgs(cmd: Command, argv: string[]): { positionals: string[]; values: CommandContext['values'] } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...commonOptions, ...cmd.options }, allowPositionals: true, strict: true });
  } catch (err) {
    // One line: Node's own messages run over several ("... is ambiguous.\nDid you forget ...").
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\s*\n\s*/g, ' ');
    throw new InputError(`otfuse ${cmd.name}`, `${message} (see otfuse ${cmd.name} --help)`);
  }
  const { positionals, values } = parsed;
  if (!values.help && (positionals.length < cmd.positionals.min || positionals.length > cmd.positionals.max)) {
    throw new InputError(`otfuse ${cmd.name}`, `expected ${cmd.positionals.names}; usage: otfuse ${cmd.usage}`);
  }
  return { positionals, values: values as CommandContext['values'] };
}

/** Reads a numeric option, with an InputError naming the option when it is not a number in range. */
export function numberOption(values: CommandContext['values'], name: string, fallback: number, min = -Infinity, max = Infinity): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new InputError(`--${name}`, `expected a number${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` and <= ${max}` : ''}, got '${String(raw)}'`);
  }
  return n;
}

/** An integer option (numberOption's checks, then integrality); null when absent. */
export function integerOption(values: CommandContext['values'], name: string, min = -Infinity, max = Infinity): number | null {
  const raw = values[name];
  if (raw === undefined) return null;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^[+-]?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = min > -Infinity && max < Infinity ? ` from ${min} to ${max}` : min > -Infinity ? ` >= ${min}` : max < Infinity ? ` <= ${max}` : '';
    throw new InputError(`--${name}`, `expected an integer${range}, got '${String(raw)}'`);
  }
  return n;
}

/** Refuses any of the options `names` that was given, naming it: they do not apply to `what` (e.g. "a BERT"). */
export function refuseOptions(values: CommandContext['values'], names: readonly string[], what: string): void {
  for (const name of names) {
    const v = values[name];
    if (v !== undefined && v !== false) throw new InputError(`--${name}`, `does not apply to ${what}`);
  }
}

/** Options that only image models take, and those that only text models (BERT) take. */
export const IMAGE_OPTIONS = ['format', 'mean', 'std', 'resize', 'holdout', 'holdout-seed', 'crop-padding', 'flip'] as const;
export const TEXT_OPTIONS = ['max-length', 'pack', 'mask-probability', 'mask-seed', 'examples', 'overlong'] as const;
/** Text options that only a masked LM takes. */
export const MASKED_LM_OPTIONS = ['pack', 'mask-probability', 'mask-seed'] as const;

/** Image dataset formats --format names (auto: detected); image_folder, the config's spelling, is taken too. */
export const IMAGE_FORMATS: readonly DatasetFormat[] = ['cifar10', 'cifar100', 'idx', 'image-folder'];
export const FORMAT_HELP = `auto (default: detected), ${IMAGE_FORMATS.join(', ')}`;

/** --format: a dataset format, or undefined for auto-detection. */
export function formatOption(values: CommandContext['values']): DatasetFormat | undefined {
  const raw = values.format;
  if (raw === undefined || raw === 'auto') return undefined;
  const format = raw === 'image_folder' ? 'image-folder' : raw;
  if (!IMAGE_FORMATS.includes(format as DatasetFormat)) throw new InputError('--format', `expected auto, ${IMAGE_FORMATS.join(', ')}, got '${String(raw)}'`);
  return format as DatasetFormat;
}

/** The help line of --device, shared by the commands that compute. */
export const DEVICE_HELP = '  --device <d>      auto (default: the GPU when the addon has CUDA and one is usable), cpu or cuda';

/** --device auto|cpu|cuda, or undefined when absent. */
export function deviceOption(values: CommandContext['values']): Device | undefined {
  const raw = values.device;
  if (raw === undefined) return undefined;
  if (raw !== 'auto' && raw !== 'cpu' && raw !== 'cuda') throw new InputError('--device', `expected auto, cpu or cuda, got '${String(raw)}'`);
  checkDevice(raw, '--device');
  return raw;
}
