/**
 * What the ViT and BERT adapters (vit.ts, bert.ts) do the same way around their native
 * models: moving HF-named tensors into and out of the native flat parameter buffer, and
 * sizing and creating activation stores. The adapters differ only in their names
 * (passed in as `hfName`) and in which checkpoint extras they tolerate.
 */
import { ActivationStore, checkActivationBytes, checkSeqFilter, type ActivationOptions } from '../activations.ts';
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import {
  native, runTask, type NativeBertModel, type NativeBuilt, type NativeStagedPasses, type NativeStoreOptions, type NativeVitModel,
  type TaskOptions,
} from '../native.ts';

/** A native parameter layout: the buffer's length and each tensor's place in it. */
export interface FlatLayout {
  total: number;
  tensors: Array<{ name: string; shape: number[]; offset: number }>;
}

/** A tensor of the caller's, read in place, and where it goes in a native model's flat buffer. */
export interface ParameterPart {
  /** The HF name, for errors. */
  name: string;
  data: Float32Array;
  offset: number;
}

/**
 * HF-named tensors -> where each goes in the flat buffer of `layout`, without copying.
 * Every tensor must be present with the layout's shape and floating-point values; errors
 * name `source` and the tensor. `lookup` finds a tensor under its HF name (a model may
 * accept another name too). Returns the parts, the HF names they took and the buffer's
 * length. Finiteness is checked where the parts are packed (buildNative's worker, or
 * packParts).
 */
export function parameterParts(
  layout: FlatLayout, hfName: (native: string) => string, options: { kind: string; source: string; lookup: (name: string) => Tensor | undefined },
): { parts: ParameterPart[]; expected: Set<string>; total: number } {
  const { kind, source } = options;
  const parts: ParameterPart[] = [];
  const expected = new Set<string>();
  const missing: string[] = [];
  for (const t of layout.tensors) {
    const name = hfName(t.name);
    expected.add(name);
    const tensor = options.lookup(name);
    if (!tensor) {
      missing.push(name);
      continue;
    }
    const same = tensor.shape.length === t.shape.length && tensor.shape.every((d, i) => d === t.shape[i]);
    if (!same)
      throw new InputError(`${source}: ${name}`, `has shape [${tensor.shape.join(', ')}], the config needs [${t.shape.join(', ')}]`);
    if (!(tensor.data instanceof Float32Array))
      throw new InputError(`${source}: ${name}`, `holds ${tensor.data?.constructor?.name ?? typeof tensor.data} data (dtype ${tensor.dtype}); ${kind} parameters must be a Float32Array`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (tensor.data.length !== size) throw new InputError(`${source}: ${name}`, `holds ${tensor.data.length} values, its shape [${t.shape.join(', ')}] needs ${size}`);
    parts.push({ name, data: tensor.data, offset: t.offset });
  }
  if (missing.length > 0) {
    const list = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, ... (${missing.length} in all)` : '');
    throw new InputError(source, `missing ${kind} parameters: ${list}`);
  }
  return { parts, expected, total: layout.total };
}

function nonFiniteError(source: string, part: ParameterPart, index: number, value: number): InputError {
  return new InputError(`${source}: ${part.name}`, `holds a non-finite value (${value}) at index ${index}`);
}

/**
 * parameterParts' parts -> a new flat buffer of `total` floats, refusing non-finite
 * values (the check buildNative's worker makes). For checkpoints and tests; models and
 * trainers are built from the parts off the JS thread (buildNative).
 */
export function packParts(parts: ParameterPart[], total: number, source: string): Float32Array {
  const flat = new Float32Array(total);
  for (const part of parts) {
    const data = part.data;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw nonFiniteError(source, part, i, data[i]);
    flat.set(data, part.offset);
  }
  return flat;
}

/**
 * Awaits a native build() over `parts` (packed, checked and copied or uploaded on a
 * worker thread; models and trainers alike) and turns its report of a non-finite value
 * into an InputError naming the tensor.
 */
export async function buildNative<T>(parts: ParameterPart[], source: string, build: (parts: ParameterPart[]) => Promise<NativeBuilt<T>>): Promise<T> {
  const result = await build(parts);
  if ('nonFinite' in result) {
    const { part, index, value } = result.nonFinite;
    throw nonFiniteError(source, parts[part], index, value);
  }
  return result.built;
}

/** Refuses tensors a model neither takes (`expected`) nor knowingly ignores: they mean a config mismatch. */
export function checkUnknownTensors(
  tensors: Map<string, Tensor>, expected: Set<string>, ignored: (name: string) => boolean, kind: string, source: string,
): void {
  const unknown = [...tensors.keys()].filter((k) => !expected.has(k) && !ignored(k));
  if (unknown.length > 0)
    throw new InputError(source, `unexpected tensors for this ${kind} config: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`);
}

/**
 * The tensors `names` of `tensors` and their places in the flat buffer of `layout`, read
 * in place: for writing a few parameters of a built model (writeParameters). Shapes are
 * checked; errors name `source` and the tensor.
 */
export function namedParts(
  layout: FlatLayout, hfName: (native: string) => string, tensors: Map<string, Tensor>, names: string[], source: string,
): ParameterPart[] {
  const places = new Map(layout.tensors.map((t) => [hfName(t.name), t]));
  return names.map((name) => {
    const place = places.get(name), tensor = tensors.get(name);
    if (!place) throw new InputError(`${source}: ${name}`, 'is not a parameter of this model');
    if (!tensor) throw new InputError(`${source}: ${name}`, 'is missing');
    const size = place.shape.reduce((a, b) => a * b, 1);
    if (!(tensor.data instanceof Float32Array) || tensor.data.length !== size)
      throw new InputError(`${source}: ${name}`, `must hold ${size} float32 values for shape [${place.shape.join(', ')}]`);
    return { name, data: tensor.data, offset: place.offset };
  });
}

/** The flat buffer -> HF-named tensors (copies), in buffer order. */
export function tensorsFromFlat(layout: FlatLayout, hfName: (native: string) => string, flat: Float32Array): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const t of layout.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    out.set(hfName(t.name), { dtype: 'F32', shape: t.shape, data: flat.slice(t.offset, t.offset + size) });
  }
  return out;
}

type NativeModel = NativeVitModel | NativeBertModel;

/**
 * Sizes a store for `numSamples` samples; throws InputError (with the byte count) over
 * the limit. `extra` gives the model's own store options, checked after the common ones.
 */
export function planStore(model: NativeModel, options: ActivationOptions, extra: () => Partial<NativeStoreOptions>): { bytes: number; limit: number } {
  const filter = checkSeqFilter(options.seqFilter ?? 'none', 'fusion.acts.seq_filter');
  if (!Number.isInteger(options.numSamples) || options.numSamples < 1)
    throw new InputError('fusion.acts.num_samples', `must be a positive integer, got ${options.numSamples}`);
  const more = extra();
  try {
    const plan = model.planActivationStore({
      capacity: options.numSamples, seqFilter: filter, avgSeqItems: options.avgSeqItems ?? false, maxBytes: options.maxBytes, ...more,
    });
    return { bytes: plan.bytes, limit: plan.limit };
  } catch (err) {
    throw new InputError(filter.startsWith('position_') ? 'fusion.acts.seq_pos' : 'fusion.acts.seq_filter', (err as Error).message);
  }
}

/** A store of `model`'s activations as planned by planStore; refused with an InputError when over the memory limit. */
export function createStore(model: NativeModel, options: ActivationOptions, plan: { bytes: number; limit: number }, extra: Partial<NativeStoreOptions>): ActivationStore {
  checkActivationBytes(plan.bytes, plan.limit, options.numSamples);
  return new ActivationStore(new (native().ActivationStore)(model, {
    capacity: options.numSamples,
    seqFilter: options.seqFilter ?? 'none',
    avgSeqItems: options.avgSeqItems ?? false,
    maxBytes: plan.limit,
    ...extra,
  }));
}

/**
 * What VitModel and BertModel share: the native model, and statistics repair's staged
 * passes over its staged samples (NativeStagedPasses), with task options.
 */
export class StagedModel<N extends NativeStagedPasses> {
  constructor(readonly native: N) {}

  /** Fills a store from the residual streams the staged samples carry from one layer to the next. */
  async captureStaged(store: ActivationStore, options: TaskOptions = {}): Promise<number> {
    return runTask(options, (o) => this.native.captureStaged(store.native, o));
  }

  /** Per-neuron mean and std of each point over every staged sample, in one staged pass. */
  async measureStaged(points: string[], options: TaskOptions = {}): Promise<Array<{ mean: Float64Array; std: Float64Array }>> {
    return runTask(options, (o) => this.native.measureStaged(points, o));
  }

  /** After a group's output neurons were rescaled and written: its kept outputs follow. */
  async rescaleStaged(points: string[], scale: Float64Array, shift: Float64Array, options: TaskOptions = {}): Promise<boolean> {
    return runTask(options, (o) => this.native.rescaleStaged(points, scale, shift, o));
  }
}
