/** Small JSON files of a model folder (config.json, shard indexes): read and parse with errors naming the file. */
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.ts';
import { describeFsError } from './byte-source.ts';
import { jsonFault } from './messages.ts';

export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(path, describeFsError(err), { cause: err });
  }
}

/** The JSON object in `text`; anything else (bad JSON, an array, a number) is an InputError. */
export function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(source, `is not valid JSON (${jsonFault(err, text)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InputError(source, 'must hold a JSON object');
  return value as Record<string, unknown>;
}
