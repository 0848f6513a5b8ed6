/**
 * Trained BERTs and their checkpoints as Hugging Face folders: config.json,
 * model.safetensors (HF parameter names; the tied decoder is the word embeddings and is
 * not repeated, as HF's save_pretrained leaves it out), vocab.txt, tokenizer_config.json
 * and special_tokens_map.json (BertTokenizer settings), and training.json with the
 * recipe, the data, timings and the curve. A checkpoint adds training_state/ as the ViT
 * checkpoints do (checkpoint.ts): AdamW moments per parameter and state.json. Every write
 * replaces the folder atomically.
 */
import { join } from 'node:path';
import { writeChunks, type AtomicOutputOptions, writeFolderAtomically } from '../io/atomic-folder.ts';
import { hfConfigToJson, parseHfConfig, type Architecture } from '../io/hf-config.ts';
import { safetensorsChunks } from '../io/safetensors.ts';
import type { Tensor } from '../io/tensor.ts';
import { bertConfigToHF, type BertConfig } from '../models/bert.ts';
import type { BertTokenizer } from '../text/tokenizer.ts';
import { bertFlatParameters, bertTensorsFromFlat } from './bert-params.ts';
import type { BertCurvePoint } from './bert-train.ts';
import type { RunRecord, RunStateFile } from './run-record.ts';
import { json, readStateFolder, writeStateFolder } from './state-folder.ts';
import type { OptimizerState } from './vit-trainer.ts';

/** What training.json records about a BERT run. */
export interface BertTrainingRecord extends RunRecord {
  /** Real training tokens per second (evaluation excluded), of the last invocation. */
  tokensPerSecond: number;
  /** The last evaluation: masked LM loss, perplexity, masked-token accuracy (or classification loss and accuracy). */
  finalTest: { loss: number | null; perplexity: number | null; accuracy: number | null } | null;
  curve: BertCurvePoint[];
  [key: string]: unknown;
}

export type BertStateFile = RunStateFile<BertCurvePoint>;

export interface BertFolderContents {
  config: BertConfig;
  initializerRange: number;
  tensors: Map<string, Tensor>;
  tokenizer: BertTokenizer;
  /** The longest sequence the model was trained for (tokenizer_config.json's model_max_length). */
  maxLength: number;
  record: BertTrainingRecord;
  state?: { optimizer: OptimizerState; file: BertStateFile } | null;
}

/** config.json text of a BERT config (what HF's BertConfig.to_json_string writes, keys sorted). */
export function bertConfigJson(config: BertConfig, initializerRange: number, source: string): string {
  // The native trainer applies no dropout: say so, rather than HF's 0.1 defaults, so that
  // training the folder further with HF continues what was done here.
  const raw = { ...bertConfigToHF(config), initializer_range: initializerRange, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
  const hf = parseHfConfig(JSON.stringify(raw), source);
  const architecture: Architecture = config.head === 'masked-lm' ? 'BertForMaskedLM' : 'BertForSequenceClassification';
  return hfConfigToJson(hf, architecture);
}

export async function writeTrainedBert(folder: string, contents: BertFolderContents, options: Pick<AtomicOutputOptions, 'force' | 'protectedFolders' | 'protectedData' | 'protectedFiles'> = {}): Promise<void> {
  const { config, tokenizer } = contents;
  const configText = bertConfigJson(config, contents.initializerRange, `${folder}/config.json`);
  const special = tokenizer.options.special;
  const specialMap = { unk_token: special.unk, sep_token: special.sep, pad_token: special.pad, cls_token: special.cls, mask_token: special.mask };
  const tokenizerConfig = {
    tokenizer_class: 'BertTokenizer', do_lower_case: tokenizer.options.lowerCase,
    strip_accents: tokenizer.options.stripAccents ?? null, tokenize_chinese_chars: tokenizer.options.splitCjk,
    model_max_length: contents.maxLength, ...specialMap,
  };
  await writeFolderAtomically(folder, { force: options.force, protectedFolders: options.protectedFolders, protectedData: options.protectedData, protectedFiles: options.protectedFiles }, async (temp) => {
    await writeChunks(join(temp, 'config.json'), [Buffer.from(configText)]);
    await writeChunks(join(temp, 'model.safetensors'), safetensorsChunks(contents.tensors));
    await writeChunks(join(temp, 'vocab.txt'), [Buffer.from(tokenizer.vocab.tokens.join('\n') + '\n')]);
    await writeChunks(join(temp, 'tokenizer_config.json'), [json(tokenizerConfig)]);
    await writeChunks(join(temp, 'special_tokens_map.json'), [json(specialMap)]);
    await writeChunks(join(temp, 'training.json'), [json(contents.record)]);
    if (contents.state) await writeStateFolder(temp, contents.state, (flat) => bertTensorsFromFlat(config, flat));
  });
}

/** The optimiser state and state.json of a BERT checkpoint folder. */
export function readBertTrainingState(folder: string, config: BertConfig): Promise<{ optimizer: OptimizerState; file: BertStateFile }> {
  return readStateFolder<BertStateFile>(folder, (tensors, where) => bertFlatParameters(config, tensors, where));
}
