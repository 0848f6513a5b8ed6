/**
 * Random access to the bytes of a file or an in-memory buffer, behind one interface, so
 * the readers never hold a whole checkpoint in memory twice and the fuzz tests can feed
 * them buffers without touching the disk. Files are read with positioned reads into
 * buffers sized by what the file really holds, never by what a header claims.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { InputError } from '../errors.ts';

export interface ByteSource {
  /** How errors name this input: the path, or the name given for a buffer. */
  readonly name: string;
  readonly size: number;
  /**
   * True when every read() returns a new buffer of its own (a file's reads), which the
   * caller may keep as the storage of a tensor; false when reads are views into memory
   * that someone else owns (a buffer's).
   */
  readonly ownedReads: boolean;
  /** Exactly `length` bytes from `offset`; an InputError if they are not all there. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function bufferSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.length,
    ownedReads: false,
    async read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    async close() {},
  };
}

export async function fileSource(path: string): Promise<ByteSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new InputError(path, describeFsError(err), { cause: err });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new InputError(path, 'is not a regular file');
    return handleSource(path, handle, stats.size);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function handleSource(path: string, handle: FileHandle, size: number): ByteSource {
  return {
    name: path,
    size,
    ownedReads: true,
    async read(offset, length) {
      checkRange(path, size, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        // A file that shrank while we read it is as broken as a truncated one.
        if (bytesRead === 0) throw new InputError(path, `file ended at byte ${offset + done} while reading (was it changed during the read?)`);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

/** Opens `input` (a path, or bytes named `name`), runs `use`, and always closes it. */
export async function withSource<T>(input: string | Uint8Array, name: string | undefined, use: (source: ByteSource) => Promise<T>): Promise<T> {
  const source = typeof input === 'string' ? await fileSource(input) : bufferSource(name ?? '<buffer>', input);
  try {
    return await use(source);
  } finally {
    await source.close();
  }
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new InputError(name, `file is truncated: needs bytes ${offset}..${offset + length} but has ${size}`);
  }
}

/** A one-line reason for a failed file operation, without Node's stack of syscall details. */
export function describeFsError(err: unknown): string {
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'ENOENT': return 'does not exist';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a folder, not a file';
    case 'ENOTDIR': return 'a part of the path is not a folder';
    default: return (err as Error).message ?? String(err);
  }
}
