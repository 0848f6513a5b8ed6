/**
 * Outputs appear whole or not at all. Every output is written under a temporary name
 * beside its destination (same folder, so the same file system) and renamed into place
 * once complete; on any failure the temporary copy is removed. An existing destination
 * is refused unless the caller forces a replacement, and folders the caller protects
 * (the models being read) are never replaced.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { InputError } from '../errors.ts';
import { describeFsError } from './byte-source.ts';

export interface AtomicOutputOptions {
  /** Replace an existing destination instead of refusing. */
  force?: boolean;
  /** Folders that must survive: the destination may be neither one of them nor contain one. */
  protectedFolders?: readonly string[];
}

/**
 * Runs `fill(tempFolder)` and renames the filled folder to `destination`. With `force`,
 * an existing destination is first renamed aside and deleted only after the new folder
 * is in place; if that last rename fails the old folder is put back.
 */
export async function writeFolderAtomically(
  destination: string, options: AtomicOutputOptions, fill: (tempFolder: string) => Promise<void>,
): Promise<void> {
  const target = resolve(destination);
  const existing = await kindOf(target);
  checkNotProtected(destination, target, options.protectedFolders ?? []);
  if (existing === 'file') throw new InputError(destination, 'exists and is a file, not a model folder; remove it or choose another output');
  if (existing === 'folder' && !options.force) throw new InputError(destination, 'output folder already exists; pass --force to replace it');

  await makeParent(destination, target);
  const temp = siblingName(target, 'tmp');
  await mkdir(temp);
  try {
    await fill(temp);
    await fsyncPath(temp);
    if (existing === 'folder') await swapInto(temp, target);
    else await rename(temp, target);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  await fsyncPath(dirname(target));
}

/** Writes `chunks` to `path` through a temporary file beside it and a rename. */
export async function writeFileAtomically(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const target = resolve(path);
  const temp = siblingName(target, 'tmp');
  try {
    await writeChunks(temp, chunks);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Writes `chunks` to a new file and flushes it to disk before returning. */
export async function writeChunks(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
        done += bytesWritten;
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function swapInto(temp: string, target: string): Promise<void> {
  // Linux has an atomic exchange (renameat2) but Node does not expose it: the old folder
  // is moved aside, the new one moved in, and the old one removed once that succeeded.
  const aside = siblingName(target, 'old');
  await rename(target, aside);
  try {
    await rename(temp, target);
  } catch (err) {
    await rename(aside, target);
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}

function checkNotProtected(destination: string, target: string, protectedFolders: readonly string[]): void {
  for (const folder of protectedFolders) {
    const kept = resolve(folder);
    const rel = relative(target, kept);
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      throw new InputError(destination, `refusing to write here: it would replace the input model folder ${folder}`);
    }
  }
}

async function kindOf(path: string): Promise<'missing' | 'file' | 'folder'> {
  try {
    return (await stat(path)).isDirectory() ? 'folder' : 'file';
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return 'missing';
    throw new InputError(path, describeFsError(err), { cause: err });
  }
}

async function makeParent(destination: string, target: string): Promise<void> {
  try {
    await mkdir(dirname(target), { recursive: true });
  } catch (err) {
    throw new InputError(destination, `cannot create the parent folder: ${describeFsError(err)}`, { cause: err });
  }
}

function siblingName(target: string, purpose: string): string {
  return join(dirname(target), `.${basename(target)}.${purpose}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

// Flushing the folder entry makes the rename itself durable; some file systems refuse
// to open a folder for that, which only costs durability, not correctness.
async function fsyncPath(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r');
    try { await handle.sync(); } finally { await handle.close(); }
  } catch { /* see above */ }
}
