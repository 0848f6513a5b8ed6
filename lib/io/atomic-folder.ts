/**
 * Outputs appear whole or not at all. Every output is written under a temporary name
 * beside its destination (same folder, so the same file system) and renamed into place
 * once complete; on any failure the temporary copy is removed. An existing destination
 * is refused unless the caller forces a replacement, and folders the caller protects
 * (the models being read) are never replaced.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, realpath, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { InputError, throwIfAborted } from '../errors.ts';
import { describeFsError } from './byte-source.ts';

export interface AtomicOutputOptions {
  /** Replace an existing destination instead of refusing. */
  force?: boolean;
  /** Folders that must survive (the models being read): the destination may be neither one of them, nor inside one, nor contain one. */
  protectedFolders?: readonly string[];
  /** The same for the datasets being read (data folders, fusion samples). */
  protectedData?: readonly string[];
  /** Files being read (a config file, a vocabulary): the destination may not be one or hold one. */
  protectedFiles?: readonly string[];
  /** How to tell the user to replace an existing output (default: "pass --force"). */
  forceHint?: string;
}

/**
 * Everything writeFolderAtomically would refuse, checked before any work so that a run
 * is not refused at its end: an empty path, a file, an existing folder without `force`,
 * a folder that holds the current folder, a protected folder, one inside it or holding
 * it (compared as real paths, so a link does not hide one), and a parent that cannot be
 * written to (probed by making and removing a folder there).
 */
export async function preflightOutput(destination: string, options: AtomicOutputOptions = {}): Promise<void> {
  const { target } = await checkDestination(destination, options, 'folder');
  await probeWritable(destination, target);
}

/** preflightOutput for a single output file (a vocabulary, a safetensors file). */
export async function preflightOutputFile(destination: string, options: Pick<AtomicOutputOptions, 'force' | 'protectedFiles'> = {}): Promise<void> {
  const { target } = await checkDestination(destination, options, 'file');
  await probeWritable(destination, target);
}

/**
 * Runs `fill(tempFolder)` and renames the filled folder to `destination`. With `force`,
 * an existing destination is first renamed aside and deleted only after the new folder
 * is in place; if that last rename fails the old folder is put back.
 */
export async function writeFolderAtomically(
  destination: string, options: AtomicOutputOptions, fill: (tempFolder: string) => Promise<void>,
): Promise<void> {
  const { target, existing } = await checkDestination(destination, options, 'folder');
  await makeParent(destination, target);
  const temp = siblingName(target, 'tmp');
  await asInputError(destination, () => mkdir(temp));
  try {
    await asInputError(destination, () => fill(temp));
    await fsyncPath(temp);
    if (existing === 'folder') await asInputError(destination, () => swapInto(temp, target));
    else await asInputError(destination, () => rename(temp, target));
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
  await fsyncPath(dirname(target));
}

/**
 * Writes `chunks` to `path` through a temporary file beside it and a rename (its parent
 * folder made when missing). A folder at `path` is refused; an existing file replaced.
 */
export async function writeFileAtomically(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const { target } = await checkDestination(path, { force: true }, 'file');
  await makeParent(path, target);
  const temp = siblingName(target, 'tmp');
  try {
    await asInputError(path, async () => {
      await writeChunks(temp, chunks);
      await rename(temp, target);
    });
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Writes `chunks` to a new file and flushes it to disk before returning; aborting stops it between chunks. */
export async function writeChunks(path: string, chunks: Iterable<Uint8Array>, signal?: AbortSignal): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    for (const chunk of chunks) {
      throwIfAborted(signal);
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

type Kind = 'missing' | 'file' | 'folder';

async function checkDestination(destination: string, options: AtomicOutputOptions, want: 'file' | 'folder'): Promise<{ target: string; existing: Kind }> {
  if (typeof destination !== 'string' || destination.trim() === '')
    throw new InputError('--output', `the output ${want} must be a non-empty path`);
  const target = resolve(destination);
  const real = await realPathOf(target);
  const holds = (outer: string, inner: string) => {
    const rel = relative(outer, inner);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  if (holds(real, await realPathOf(process.cwd())))
    throw new InputError(destination, 'refusing to write here: it would replace the current folder or a folder that holds it');
  const inputs = [
    ...(options.protectedFolders ?? []).map((folder) => ({ folder, what: 'input model folder' })),
    ...(options.protectedData ?? []).map((folder) => ({ folder, what: 'input dataset' })),
    ...(options.protectedFiles ?? []).map((folder) => ({ folder, what: 'input file' })),
  ];
  for (const { folder, what } of inputs) {
    const kept = await realPathOf(resolve(folder));
    if (holds(real, kept)) throw new InputError(destination, `refusing to write here: it would replace the ${what} ${folder}`);
    if (holds(kept, real)) throw new InputError(destination, `refusing to write here: it is inside the ${what} ${folder}, which is never modified`);
  }
  const existing = await kindOf(target);
  if (want === 'folder' && existing === 'file') throw new InputError(destination, 'exists and is a file, not a folder; remove it or choose another output');
  if (want === 'file' && existing === 'folder') throw new InputError(destination, 'is a folder; the output here is a file');
  if (existing !== 'missing' && !options.force)
    throw new InputError(destination, `${want === 'folder' ? 'output folder' : 'output file'} already exists; ${options.forceHint ?? 'pass --force'} to replace it`);
  return { target, existing };
}

/** The real path of `path`: its nearest existing ancestor's, with the rest of the path appended. */
async function realPathOf(path: string): Promise<string> {
  let head = path;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(head), ...rest.reverse());
    } catch {
      const up = dirname(head);
      if (up === head) return path;
      rest.push(basename(head));
      head = up;
    }
  }
}

/** Makes and removes a folder where the output's parent is (or its nearest existing ancestor). */
async function probeWritable(destination: string, target: string): Promise<void> {
  let at = dirname(target);
  while ((await kindOf(at)) === 'missing' && dirname(at) !== at) at = dirname(at);
  try {
    await rmdir(await mkdtemp(join(at, '.otfuse-probe-')));
  } catch (err) {
    throw new InputError(destination, `cannot write here: ${describeFsError(err)} (${at})`, { cause: err });
  }
}

/** Runs `fn`; a file-system error (one with a syscall) becomes an InputError naming `destination`. */
async function asInputError<T>(destination: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof InputError || !(err as { syscall?: string }).syscall) throw err;
    const path = (err as { path?: string }).path;
    throw new InputError(destination, `cannot write: ${describeFsError(err)}${path ? ` (${path})` : ''}`, { cause: err });
  }
}

async function kindOf(path: string): Promise<Kind> {
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
