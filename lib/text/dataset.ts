/**
 * Text datasets for BERT: a folder with one plain-text file per split (train.txt,
 * test.txt, validation.txt), UTF-8. An example is one line (blank lines skipped) or one
 * paragraph (lines up to a blank line, joined by spaces). A TAB inside an example splits
 * it into a sentence pair (segment A, segment B).
 *
 * Sequence classification adds <split>.labels beside the text: line N holds the label of
 * line N of <split>.txt, as a class name from the model's id2label or a class index.
 * Labelled splits are read line by line and refuse blank lines, so the two files cannot
 * drift apart.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { describeFsError } from '../io/byte-source.ts';

export type TextSplitName = 'train' | 'test' | 'validation';
export type ExampleUnit = 'lines' | 'paragraphs';

export interface TextExample {
  text: string;
  /** Segment B of a sentence pair. */
  pair?: string;
  /** 1-based line of the file where the example starts (for error messages). */
  line: number;
  /** Class index, in a labelled split. */
  label?: number;
}

export interface TextSplit {
  folder: string;
  split: TextSplitName;
  /** The text file read. */
  file: string;
  examples: TextExample[];
  /** "folder (test split, 120 lines)" */
  description: string;
}

export interface OpenTextOptions {
  split?: TextSplitName;
  unit?: ExampleUnit;
  /** Read <split>.labels: class names (in index order) map to indices; integers are indices. */
  labels?: { names?: string[]; numClasses: number };
}

/** The file of a split: <split>.txt (validation also as valid.txt or dev.txt). */
export function textSplitFile(folder: string, split: TextSplitName): string | undefined {
  const names = split === 'validation' ? ['validation.txt', 'valid.txt', 'dev.txt'] : [`${split}.txt`];
  return names.map((n) => join(folder, n)).find((p) => existsSync(p));
}

/** The labels file beside a split's text file: <split>.labels. */
export function textLabelsFile(textFile: string): string {
  return textFile.replace(/\.txt$/, '.labels');
}

/** Every file a text dataset reads: each split's text and its labels (present or not). */
export function textDatasetFiles(folder: string): string[] {
  return (['train', 'test', 'validation'] as const).flatMap((s) => {
    const file = textSplitFile(folder, s);
    return file ? [file, textLabelsFile(file)] : [];
  });
}

/** True when `folder` holds a text dataset (one of the split files). */
export function looksLikeTextDataset(folder: string): boolean {
  return existsSync(folder) && statSync(folder).isDirectory()
    && (['train', 'test', 'validation'] as const).some((s) => textSplitFile(folder, s) !== undefined);
}

async function readUtf8(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(path, describeFsError(err), { cause: err });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(path, 'is not valid UTF-8 text');
  }
  return text.replace(/^\uFEFF/, '');
}

function splitPair(raw: string, line: number): TextExample {
  const tab = raw.indexOf('\t');
  return tab < 0 ? { text: raw, line } : { text: raw.slice(0, tab), pair: raw.slice(tab + 1), line };
}

/** Examples of a text file's contents (lines or paragraphs). */
export function parseExamples(text: string, unit: ExampleUnit): TextExample[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const out: TextExample[] = [];
  if (unit === 'lines') {
    lines.forEach((l, i) => {
      if (l.trim().length > 0) out.push(splitPair(l, i + 1));
    });
    return out;
  }
  let start = -1;
  let parts: string[] = [];
  const flush = () => {
    if (parts.length > 0) out.push(splitPair(parts.join(' '), start + 1));
    parts = [];
  };
  lines.forEach((l, i) => {
    if (l.trim().length === 0) return flush();
    if (parts.length === 0) start = i;
    parts.push(l.trim());
  });
  flush();
  return out;
}

function parseLabel(raw: string, names: string[] | undefined, numClasses: number, source: string): number {
  const v = raw.trim();
  if (names) {
    const i = names.indexOf(v);
    if (i >= 0) return i;
  }
  if (/^\d+$/.test(v) && Number(v) < numClasses) return Number(v);
  const known = names ? ` (classes: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''})` : '';
  throw new InputError(source, `label ${JSON.stringify(v)} is neither a class name nor an index below ${numClasses}${known}`);
}

export async function openTextDataset(folder: string, options: OpenTextOptions = {}): Promise<TextSplit> {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new InputError(folder, 'is not a folder');
  const split = options.split ?? 'test';
  const file = textSplitFile(folder, split);
  if (!file) throw new InputError(folder, `has no ${split} split (expected ${split === 'validation' ? 'validation.txt, valid.txt or dev.txt' : `${split}.txt`})`);
  const text = await readUtf8(file);
  let examples: TextExample[];
  if (options.labels) {
    const labelFile = textLabelsFile(file);
    if (!existsSync(labelFile)) throw new InputError(folder, `has no ${labelFile.slice(folder.length + 1)} beside ${file.slice(folder.length + 1)}: a classifier needs one label per line`);
    const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    if (lines[lines.length - 1] === '') lines.pop();
    const labels = (await readUtf8(labelFile)).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    if (labels[labels.length - 1] === '') labels.pop();
    if (labels.length !== lines.length)
      throw new InputError(labelFile, `has ${labels.length} lines but ${file} has ${lines.length}; line N of the labels is the label of line N of the text`);
    examples = lines.map((l, i) => {
      if (l.trim().length === 0) throw new InputError(`${file}:${i + 1}`, 'is blank; in a labelled split every line is an example');
      return { ...splitPair(l, i + 1), label: parseLabel(labels[i], options.labels!.names, options.labels!.numClasses, `${labelFile}:${i + 1}`) };
    });
  } else {
    examples = parseExamples(text, options.unit ?? 'lines');
  }
  if (examples.length === 0) throw new InputError(file, 'holds no examples (only blank lines)');
  const unit = options.labels ? 'lines' : options.unit ?? 'lines';
  return { folder, split, file, examples, description: `${folder} (${split} split, ${describeCount(examples.length, unit, text)})` };
}

/**
 * "666 lines", "12 paragraphs"; a file without a blank line is one paragraph, which is
 * rarely what was meant (a one-example-per-line file read as paragraphs), so that says so.
 */
function describeCount(count: number, unit: ExampleUnit, text: string): string {
  if (unit === 'lines') return `${count} ${count === 1 ? 'line' : 'lines'}`;
  if (count > 1) return `${count} paragraphs`;
  const lines = text.split('\n').filter((l) => l.trim().length > 0).length;
  return lines > 1 ? `1 paragraph of all ${lines} lines: the file has no blank line; read by lines, it holds ${lines} examples` : '1 paragraph';
}
