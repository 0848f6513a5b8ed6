/**
 * The tokenizer files of a model folder (a BERT's WordPiece vocabulary and its
 * settings), as text. loadModel reads them and saveModel writes them back, so a model
 * keeps how text becomes its input wherever it goes: a fused BERT takes its anchor's, and
 * a saved one is a folder HF's tokenizers and ours load as they loaded the parents.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readTextFile } from './json-file.ts';

export const TOKENIZER_FILES = ['vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.json'] as const;

export type TokenizerFileName = (typeof TOKENIZER_FILES)[number];

/** File name -> contents, for the files a folder has. */
export type TokenizerFiles = Partial<Record<TokenizerFileName, string>>;

/** The tokenizer files in `folder`, or undefined when it has none (an image model's folder). */
export async function readTokenizerFiles(folder: string): Promise<TokenizerFiles | undefined> {
  const files: TokenizerFiles = {};
  let found = false;
  for (const name of TOKENIZER_FILES) {
    const path = join(folder, name);
    if (!existsSync(path)) continue;
    files[name] = await readTextFile(path);
    found = true;
  }
  return found ? files : undefined;
}
