/**
 * The parent BERTs of an experiment (the text twin of parents.ts): loaded from their
 * folders or taken as loaded (never modified), built as native BERTs, and checked to be
 * fusable with each other: one head, depth, head count, vocabulary, positions and token
 * types (the widths may differ).
 */
import { InputError } from '../errors.ts';
import { loadModel, type Model } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import { bertConfigFromHf, bertParameterShapes, createBertModel, type BertConfig, type BertModel } from '../models/bert.ts';
import type { Device } from '../native.ts';

export interface BertParent {
  key: string;
  /** Where it came from, or a label for a model built in memory. */
  folder: string;
  model: Model;
  config: BertConfig;
  /** The parameters the fusion reads, under their HF names (tied copies and unused extras left out). */
  tensors: Map<string, Tensor>;
  /** The native model (built when the parents are made, again after release()). */
  bert(): Promise<BertModel>;
  release(): void;
}

/** The parameters of a BERT checkpoint the forward pass uses, by the names of the native layout. */
function bertParameters(config: BertConfig, tensors: Map<string, Tensor>, folder: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const { name } of bertParameterShapes(config)) {
    const t = tensors.get(name) ?? (name === 'cls.predictions.bias' ? tensors.get('cls.predictions.decoder.bias') : undefined);
    if (!t) throw new InputError(folder, `has no tensor '${name}'`);
    out.set(name, t);
  }
  return out;
}

export async function loadBertParents(names: Record<string, string>, count: number, device: Device = 'auto', signal?: AbortSignal): Promise<BertParent[]> {
  const models: Model[] = [];
  for (let i = 0; i < count; i++) models.push(await loadModel(names[`name_${i}`], { signal }));
  return bertParentsFromModels(models, device);
}

/** Parents from models already in memory; each must carry its tokenizer files (loadModel reads them). */
export async function bertParentsFromModels(models: Model[], device: Device = 'auto'): Promise<BertParent[]> {
  const parents: BertParent[] = [];
  for (const [i, model] of models.entries()) {
    const folder = model.source?.folder ?? `model ${i}`;
    if (model.config.model_type !== 'bert')
      throw new InputError(folder, `is a ${model.architecture}; model.type hf_bert needs BertForMaskedLM or BertForSequenceClassification models`);
    const config = bertConfigFromHf(model.config, model.architecture, `${folder}/config.json`);
    // Building the native model checks every tensor against the config, before any work.
    let bert: BertModel | null = await createBertModel(config, model.tensors, { source: folder, device });
    parents.push({
      key: `name_${i}`, folder, model, config, tensors: bertParameters(config, model.tensors, folder),
      async bert() {
        bert ??= await createBertModel(config, model.tensors, { source: folder, device });
        return bert;
      },
      release() { bert = null; },
    });
  }
  const first = parents[0];
  const vocab = (p: BertParent) => {
    const text = p.model.tokenizer?.['vocab.txt'];
    if (text === undefined) throw new InputError(p.folder, 'has no vocab.txt; a BERT model folder needs its tokenizer\'s vocabulary');
    return text;
  };
  const firstVocab = vocab(first);
  for (const p of parents.slice(1)) {
    const mismatch = (what: string, x: unknown, y: unknown) =>
      new InputError(p.folder, `has ${what} ${String(x)}, ${first.folder} has ${String(y)}; fused models must share it`);
    const a = p.config, b = first.config;
    if (a.head !== b.head) throw mismatch('a head', a.head, b.head);
    if (a.numLayers !== b.numLayers) throw mismatch('num_hidden_layers', a.numLayers, b.numLayers);
    if (a.numHeads !== b.numHeads) throw mismatch('num_attention_heads', a.numHeads, b.numHeads);
    if (a.vocabSize !== b.vocabSize) throw mismatch('vocab_size', a.vocabSize, b.vocabSize);
    if (a.maxPositions !== b.maxPositions) throw mismatch('max_position_embeddings', a.maxPositions, b.maxPositions);
    if (a.typeVocabSize !== b.typeVocabSize) throw mismatch('type_vocab_size', a.typeVocabSize, b.typeVocabSize);
    if (a.tiedDecoder !== b.tiedDecoder) throw mismatch('tie_word_embeddings', a.tiedDecoder, b.tiedDecoder);
    if (a.head === 'sequence-classification' && a.numLabels !== b.numLabels) throw mismatch('num_labels', a.numLabels, b.numLabels);
    if (vocab(p) !== firstVocab)
      throw new InputError(`${p.folder}/vocab.txt`, `differs from ${first.folder}/vocab.txt; fused models must share a vocabulary`);
  }
  return parents;
}
