/**
 * What `otfuse inspect <model-folder>` shows: the weights' format and files, the
 * architecture and its sizes, the parameter count, and every tensor with the dtype its
 * file stores. describeModel returns plain JSON-ready data (for --json);
 * formatModelSummary turns it into text for people.
 */
import { isFloatDType, type StoredDType } from './dtype.ts';
import { type Architecture, type HfConfig, pair, patchGrid } from './hf-config.ts';
import { loadModel, type ModelFormat } from './model-folder.ts';
import { elementCount, formatShape } from './tensor.ts';

export interface TensorSummary {
  name: string;
  /** As stored in the file (F16 and BF16 included). */
  dtype: StoredDType;
  shape: number[];
  /** Number of values in the tensor. */
  parameters: number;
}

export interface ModelSummary {
  folder: string;
  format: ModelFormat;
  sharded: boolean;
  files: string[];
  architecture: Architecture;
  modelType: HfConfig['model_type'];
  config: HfConfig;
  /** Values in floating-point tensors; integer buffers (BERT's position_ids) are not parameters. */
  parameterCount: number;
  tensors: TensorSummary[];
  /** Tensors in the files that the architecture does not use. */
  unusedTensors: string[];
  /** Floating-point tensors holding NaN or infinite values (such a model cannot be fused or evaluated). */
  nonFiniteTensors: Array<{ name: string; nan: number; infinite: number }>;
}

function countNonFinite(name: string, tensor: { dtype: string; data: ArrayLike<number | bigint> }) {
  if (tensor.dtype !== 'F32' && tensor.dtype !== 'F64') return null;
  const values = tensor.data as Float32Array | Float64Array;
  let nan = 0, infinite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) Number.isNaN(v) ? nan++ : infinite++;
  }
  return nan + infinite > 0 ? { name, nan, infinite } : null;
}

export async function describeModel(folder: string): Promise<ModelSummary> {
  // Inspecting is how a user finds out what is wrong with a model, so corrupt values are
  // reported in the summary instead of refusing to load.
  const model = await loadModel(folder, { checkFinite: false });
  const source = model.source!;
  const tensors = [...model.tensors].map(([name, tensor]): TensorSummary => ({
    name,
    dtype: source.storedDtypes.get(name) ?? tensor.dtype,
    shape: [...tensor.shape],
    parameters: elementCount(tensor.shape),
  }));
  return {
    folder,
    format: source.format,
    sharded: source.sharded,
    files: source.files,
    architecture: model.architecture,
    modelType: model.config.model_type,
    config: model.config,
    parameterCount: tensors.filter((t) => isFloatDType(t.dtype)).reduce((sum, t) => sum + t.parameters, 0),
    tensors,
    unusedTensors: source.unexpectedTensors,
    nonFiniteTensors: [...model.tensors].map(([name, t]) => countNonFinite(name, t)).filter((x) => x !== null),
  };
}

const count = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, word: string, words = `${word}s`): string => `${count(n)} ${n === 1 ? word : words}`;

export function formatModelSummary(summary: ModelSummary): string {
  const { config } = summary;
  const rows: Array<[string, string]> = [
    ['Model folder', summary.folder],
    ['Weights', weightsLine(summary)],
    ['Architecture', `${summary.architecture} (model type ${summary.modelType})`],
    ['Encoder', `${plural(config.num_hidden_layers, 'layer')}, hidden size ${config.hidden_size}, ${plural(config.num_attention_heads, 'attention head')}, MLP size ${config.intermediate_size}, ${config.hidden_act}`],
  ];
  if (config.model_type === 'vit') {
    const [h, w] = pair(config.image_size);
    const [ph, pw] = pair(config.patch_size);
    rows.push(['Input', `${h}x${w} images, ${plural(config.num_channels, 'channel')}, ${ph}x${pw} patches (${plural(patchGrid(config).patches, 'patch', 'patches')} + class token)`]);
  } else {
    rows.push(['Input', `vocabulary of ${count(config.vocab_size)}, up to ${count(config.max_position_embeddings)} positions, ${plural(config.type_vocab_size, 'token type')}`]);
  }
  if (summary.architecture === 'ViTForImageClassification' || summary.architecture === 'BertForSequenceClassification') {
    const names = Object.values(config.id2label);
    const shown = names.length > 6 ? `${names.slice(0, 6).join(', ')}, ...` : names.join(', ');
    rows.push(['Labels', `${count(config.num_labels)} (${shown})`]);
  }
  rows.push(['Parameters', `${count(summary.parameterCount)} in ${plural(summary.tensors.length, 'tensor')}, stored as ${dtypeBreakdown(summary)}`]);
  if (summary.unusedTensors.length > 0) rows.push(['Unused', `${plural(summary.unusedTensors.length, 'tensor')} the architecture ignores: ${summary.unusedTensors.slice(0, 4).join(', ')}${summary.unusedTensors.length > 4 ? ', ...' : ''}`]);

  if (summary.nonFiniteTensors.length > 0) {
    const first = summary.nonFiniteTensors.slice(0, 3).map((t) => `${t.name} (${[t.nan ? `${count(t.nan)} NaN` : '', t.infinite ? `${count(t.infinite)} infinite` : ''].filter(Boolean).join(', ')})`);
    rows.push(['Warning', `${plural(summary.nonFiniteTensors.length, 'tensor')} with NaN or infinite values: ${first.join(', ')}${summary.nonFiniteTensors.length > 3 ? ', ...' : ''}`]);
  }
  const labelWidth = Math.max(...rows.map(([label]) => label.length)) + 2;
  const lines = rows.map(([label, value]) => `${label.padEnd(labelWidth)}${value}`);
  lines.push('', ...tensorTable(summary.tensors));
  return `${lines.join('\n')}\n`;
}

function weightsLine(summary: ModelSummary): string {
  const format = summary.format === 'safetensors' ? 'safetensors' : 'PyTorch (torch.save)';
  if (!summary.sharded) return `${format}: ${summary.files.join(', ')}`;
  const [index, ...shards] = summary.files;
  return `${format}, ${plural(shards.length, 'shard')} listed in ${index}: ${shards.join(', ')}`;
}

function dtypeBreakdown(summary: ModelSummary): string {
  const byDtype = new Map<StoredDType, number>();
  for (const t of summary.tensors) byDtype.set(t.dtype, (byDtype.get(t.dtype) ?? 0) + 1);
  if (byDtype.size === 1) return [...byDtype.keys()][0];
  return [...byDtype].map(([dtype, n]) => `${dtype} (${plural(n, 'tensor')})`).join(', ');
}

function tensorTable(tensors: TensorSummary[]): string[] {
  const header = ['Tensor', 'Stored as', 'Shape', 'Parameters'];
  const body = tensors.map((t) => [t.name, t.dtype, formatShape(t.shape), count(t.parameters)]);
  const widths = header.map((title, c) => Math.max(title.length, ...body.map((row) => row[c].length)));
  const format = (row: string[]) => row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [format(header), format(widths.map((w) => '-'.repeat(w))), ...body.map(format)];
}
