/**
 * A real English corpus for masked-LM training from a Debian package: `fortunes` (the
 * fortune-mod cookie files, about 15,000 quotations, jokes and definitions, 2.6 MB,
 * installed under /usr/share/games/fortunes). Each file holds cookies separated by lines
 * of a single "%"; the .dat files beside them are binary indexes and the .u8 names are
 * links, so both are skipped, and so is ascii-art (pictures, not prose).
 *
 * prepareFortunes writes a text dataset folder (lib/text/dataset.ts): train.txt and
 * test.txt with one cookie per line (its lines joined by single spaces, typewriter
 * overstrikes and control characters removed, duplicates dropped) and SOURCE.md saying
 * where it came from. A cookie's split is a seeded hash of its text, so the split stays
 * put when the package gains or loses cookies. The folder is written atomically.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InputError } from '../../errors.ts';
import { preflightOutput, writeFolderAtomically } from '../../io/atomic-folder.ts';

export const FORTUNES_PACKAGE = 'fortunes';
export const FORTUNES_FOLDER = '/usr/share/games/fortunes';
const SKIPPED = new Set(['ascii-art']);

export interface PrepareFortunesOptions {
  /** Folder of cookie files (default /usr/share/games/fortunes). */
  source?: string;
  /** Share of cookies in test.txt (default 0.05). */
  testFraction?: number;
  seed?: number;
  /** Replace an existing output folder. */
  force?: boolean;
  /** Keep only cookies of at most this many characters (after cleaning); default: all. */
  maxChars?: number;
}

export interface PreparedCorpus {
  folder: string;
  train: number;
  test: number;
  files: string[];
  duplicates: number;
}

/** One cookie's text as one line: overstrikes ("_\bx") and control characters gone, whitespace collapsed. */
export function cleanCookie(raw: string): string {
  return raw
    .replace(/[^\n]\x08/g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ' ')
    .split('\n').map((l) => l.trim()).filter((l) => l.length > 0).join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The cookies of one fortune file (separated by lines holding only "%"). */
export function parseFortuneFile(text: string): string[] {
  return text.split(/^%\r?$/m).map(cleanCookie).filter((c) => c.length > 0);
}

/** FNV-1a of the text, mixed with the seed: a stable split key in [0, 1). */
function splitKey(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  h ^= h >>> 12;
  return (h >>> 0) / 4294967296;
}

/** A fortune file's text; a binary file (a NUL byte, or not UTF-8) is refused, naming it. */
function fortuneText(bytes: Buffer, file: string): string {
  if (bytes.includes(0)) throw new InputError(file, 'is not a text file (it holds NUL bytes); --source takes a folder of fortune text files');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(file, 'is not UTF-8 text; --source takes a folder of fortune text files');
  }
}

async function cookieFiles(source: string): Promise<string[]> {
  if (existsSync(source) && !statSync(source).isDirectory())
    throw new InputError(source, 'is a file; --source takes a folder of fortune files');
  if (!existsSync(source))
    throw new InputError(source, `not found: install the Debian package '${FORTUNES_PACKAGE}' (apt-get install ${FORTUNES_PACKAGE}) or pass --source <folder of fortune files>`);
  const names = (await readdir(source, { withFileTypes: true }))
    .filter((e) => e.isFile() && !e.name.endsWith('.dat') && !e.name.endsWith('.u8') && !e.name.startsWith('.') && !SKIPPED.has(e.name))
    .map((e) => e.name)
    .sort();
  if (names.length === 0) throw new InputError(source, 'holds no fortune files');
  return names.map((n) => join(source, n));
}

export async function prepareFortunes(outFolder: string, options: PrepareFortunesOptions = {}): Promise<PreparedCorpus> {
  const source = options.source ?? FORTUNES_FOLDER;
  const fraction = options.testFraction ?? 0.05;
  if (!(fraction > 0 && fraction < 1)) throw new InputError('--test-fraction', `must be between 0 and 1, got ${fraction}`);
  const seed = options.seed ?? 0;
  const maxChars = options.maxChars ?? Infinity;
  if (!(maxChars >= 1)) throw new InputError('--max-chars', `must be a positive number, got ${maxChars}`);
  await preflightOutput(outFolder, { force: options.force, protectedData: [source] });
  const files = await cookieFiles(source);
  const seen = new Set<string>();
  const train: string[] = [], test: string[] = [];
  let duplicates = 0, longer = 0;
  for (const file of files) {
    for (const cookie of parseFortuneFile(fortuneText(await readFile(file), file))) {
      if (cookie.length > maxChars) {
        longer++;
        continue;
      }
      if (seen.has(cookie)) {
        duplicates++;
        continue;
      }
      seen.add(cookie);
      (splitKey(cookie, seed) < fraction ? test : train).push(cookie);
    }
  }
  if (test.length === 0 || train.length === 0) throw new InputError(source, `has too few cookies (${seen.size}) for a train/test split`);
  const note = [
    '# Fortunes corpus',
    '',
    `Made by \`otfuse prepare-text\` from the Debian package \`${FORTUNES_PACKAGE}\` (${source}):`,
    `${files.length} cookie files (${files.map((f) => basename(f)).join(', ')}),`,
    `${seen.size} distinct cookies (${duplicates} duplicates dropped${longer ? `, ${longer} longer than ${maxChars} characters left out` : ''}), one per line.`,
    `Split by a hash of each cookie's text with seed ${seed}: ${train.length} train, ${test.length} test (${fraction}).`,
    '',
  ].join('\n');
  await writeFolderAtomically(outFolder, { force: options.force, protectedData: [source] }, async (temp) => {
    await writeFile(join(temp, 'train.txt'), train.join('\n') + '\n');
    await writeFile(join(temp, 'test.txt'), test.join('\n') + '\n');
    await writeFile(join(temp, 'SOURCE.md'), note);
  });
  return { folder: outFolder, train: train.length, test: test.length, files, duplicates };
}
