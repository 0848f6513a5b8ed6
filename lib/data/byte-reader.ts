/**
 * Sequential reads of exact byte counts from a file, gzipped or not, without loading the
 * file: the record formats (IDX, CIFAR) are read a batch of records at a time.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { InputError } from '../errors.ts';

export function isGzipPath(path: string): boolean {
  return path.endsWith('.gz');
}

export class ByteReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;
  /** Bytes handed out so far. */
  offset = 0;

  private constructor(readonly path: string, source: AsyncIterable<Buffer>) {
    this.chunks = source[Symbol.asyncIterator]();
  }

  /** Opens `path`, decompressing on the fly when it ends in .gz. */
  static open(path: string): ByteReader {
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    const stream = isGzipPath(path) ? file.pipe(createGunzip()) : file;
    if (isGzipPath(path)) file.on('error', (err) => stream.destroy(err));
    return new ByteReader(path, stream as AsyncIterable<Buffer>);
  }

  /**
   * Exactly n bytes (what: what the caller expected, for the truncation message). Throws
   * an InputError naming the file when it ends first or is not valid gzip.
   */
  async read(n: number, what: string | ((endsAfter: number) => string)): Promise<Buffer> {
    while (this.pendingBytes < n && !this.done) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.chunks.next();
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (code.startsWith('Z_') || /unexpected end of file|incorrect header/i.test((err as Error).message))
          throw new InputError(this.path, `is not valid gzip data or is truncated (${(err as Error).message})`);
        throw err;
      }
      if (next.done) this.done = true;
      else {
        this.pending.push(next.value);
        this.pendingBytes += next.value.length;
      }
    }
    if (this.pendingBytes < n) {
      const endsAfter = this.offset + this.pendingBytes;
      throw new InputError(this.path, `is truncated: it ends after ${endsAfter} bytes, in the middle of ${typeof what === 'function' ? what(endsAfter) : what}`);
    }
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    this.offset += n;
    return out;
  }

  /** Skips n bytes, a chunk at a time. */
  async skip(n: number, what: string): Promise<void> {
    for (let left = n; left > 0; ) {
      const step = Math.min(left, 1 << 22);
      await this.read(step, what);
      left -= step;
    }
  }

  /** Stops reading and releases the file. */
  async close(): Promise<void> {
    await this.chunks.return?.();
  }
}
