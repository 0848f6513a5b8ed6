/**
 * A small zip reader, enough for the archives torch.save writes (and ones re-packed by
 * other tools): the central directory (with zip64 records), stored and deflated entries.
 * Every offset and size is checked against the file before it is used, each entry's
 * bytes must lie before the central directory, and each entry's CRC-32 is verified.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { InputError } from '../errors.ts';
import type { ByteSource } from './byte-source.ts';
import { oneLine, quoted } from './messages.ts';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** Deflate cannot expand data more than about 1032:1; a larger claim is a lie. */
const MAX_DEFLATE_RATIO = 1032;

export class ZipArchive {
  private constructor(
    private readonly source: ByteSource,
    readonly entries: Map<string, ZipEntry>,
    /** Where the central directory starts: entry data must end before it. */
    private readonly dataLimit: number,
  ) {}

  static async open(source: ByteSource): Promise<ZipArchive> {
    const fail = (fault: string): never => { throw new InputError(source.name, fault); };
    const { entryCount, directoryOffset, directorySize, directoryEnd } = await findCentralDirectory(source, fail);
    if (directoryOffset + directorySize > directoryEnd) fail('zip central directory runs past its end record');
    if (entryCount * CENTRAL_SIZE > directorySize) fail(`zip claims ${entryCount} entries but its central directory has room for fewer`);
    const directory = view(await source.read(directoryOffset, directorySize));
    const entries = new Map<string, ZipEntry>();
    let at = 0;
    for (let i = 0; i < entryCount; i++) {
      if (at + CENTRAL_SIZE > directory.byteLength || directory.getUint32(at, true) !== CENTRAL_SIGNATURE) {
        fail(`zip central directory entry ${i} is damaged`);
      }
      const entry = parseCentralEntry(directory, at, fail);
      if (entries.has(entry.name)) fail(`zip holds two entries named ${quoted(entry.name)}`);
      if (entry.localHeaderOffset + LOCAL_SIZE > directoryOffset) fail(`zip entry ${quoted(entry.name)} starts past the end of the entry data`);
      entries.set(entry.name, entry);
      at += CENTRAL_SIZE + directory.getUint16(at + 28, true) + directory.getUint16(at + 30, true) + directory.getUint16(at + 32, true);
    }
    return new ZipArchive(source, entries, directoryOffset);
  }

  /** The uncompressed bytes of an entry, checked against its size and CRC-32. */
  async read(entry: ZipEntry): Promise<Uint8Array> {
    const fail = (fault: string): never => { throw new InputError(this.source.name, `zip entry ${quoted(entry.name)}: ${fault}`); };
    const local = view(await this.source.read(entry.localHeaderOffset, LOCAL_SIZE));
    if (local.getUint32(0, true) !== LOCAL_SIGNATURE) fail('local header is damaged');
    const dataStart = entry.localHeaderOffset + LOCAL_SIZE + local.getUint16(26, true) + local.getUint16(28, true);
    if (dataStart + entry.compressedSize > this.dataLimit) fail('data runs into the central directory');
    const raw = await this.source.read(dataStart, entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === 0) {
      data = raw;
    } else {
      try {
        // One byte beyond the claimed size lets a longer stream show up as an error.
        data = inflateRawSync(raw, { maxOutputLength: entry.size + 1 });
      } catch (err) {
        return fail(`deflate data is corrupt (${oneLine((err as Error).message)})`);
      }
    }
    if (data.length !== entry.size) fail(`holds ${data.length} bytes but its header says ${entry.size}`);
    if (crc32(data) !== entry.crc32) fail('CRC-32 mismatch: the file is corrupt');
    return data;
  }
}

async function findCentralDirectory(source: ByteSource, fail: (fault: string) => never) {
  if (source.size < EOCD_SIZE) fail(`file is too short to be a zip archive (${source.size} bytes)`);
  const tailLength = Math.min(source.size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = source.size - tailLength;
  const tail = view(await source.read(tailStart, tailLength));
  let eocd = -1;
  // The end record is the last signature whose comment length reaches exactly to the end.
  for (let at = tailLength - EOCD_SIZE; at >= 0; at--) {
    if (tail.getUint32(at, true) === EOCD_SIGNATURE && at + EOCD_SIZE + tail.getUint16(at + 20, true) === tailLength) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail('zip end-of-central-directory record not found (truncated or not a zip file)');
  let entryCount = tail.getUint16(eocd + 10, true);
  let directorySize = tail.getUint32(eocd + 12, true);
  let directoryOffset = tail.getUint32(eocd + 16, true);
  let directoryEnd = tailStart + eocd;
  const needsZip64 = entryCount === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff;
  const locatorAt = eocd - 20;
  if (locatorAt >= 0 && tail.getUint32(locatorAt, true) === ZIP64_LOCATOR_SIGNATURE) {
    const zip64At = safeNumber(tail.getBigUint64(locatorAt + 8, true), 'zip64 record offset', fail);
    if (zip64At + 56 > tailStart + locatorAt) fail('zip64 end record offset is out of range');
    const record = view(await source.read(zip64At, 56));
    if (record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) fail('zip64 end record is damaged');
    entryCount = safeNumber(record.getBigUint64(32, true), 'entry count', fail);
    directorySize = safeNumber(record.getBigUint64(40, true), 'central directory size', fail);
    directoryOffset = safeNumber(record.getBigUint64(48, true), 'central directory offset', fail);
    directoryEnd = zip64At;
  } else if (needsZip64) {
    fail('zip needs a zip64 record but has none');
  }
  return { entryCount, directoryOffset, directorySize, directoryEnd };
}

function parseCentralEntry(directory: DataView, at: number, fail: (fault: string) => never): ZipEntry {
  const flags = directory.getUint16(at + 8, true);
  const method = directory.getUint16(at + 10, true);
  const crc = directory.getUint32(at + 16, true);
  let compressedSize = directory.getUint32(at + 20, true);
  let size = directory.getUint32(at + 24, true);
  const nameLength = directory.getUint16(at + 28, true);
  const extraLength = directory.getUint16(at + 30, true);
  let localHeaderOffset = directory.getUint32(at + 42, true);
  const nameStart = at + CENTRAL_SIZE;
  if (nameStart + nameLength + extraLength > directory.byteLength) fail('zip central directory entry runs past its end');
  const nameBytes = new Uint8Array(directory.buffer, directory.byteOffset + nameStart, nameLength);
  const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(nameBytes);
  const at64 = `zip entry ${quoted(name)}`;
  if (flags & 0x1) fail(`${at64} is encrypted`);
  if (method !== 0 && method !== 8) fail(`${at64} uses compression method ${method}; only stored (0) and deflate (8) are supported`);

  // Zip64 extra field: 64-bit values for exactly the fields saturated at 0xffffffff, in order.
  let extra = nameStart + nameLength;
  const extraEnd = extra + extraLength;
  while (extra + 4 <= extraEnd) {
    const id = directory.getUint16(extra, true);
    const length = directory.getUint16(extra + 2, true);
    if (extra + 4 + length > extraEnd) fail(`${at64} has a damaged extra field`);
    if (id === 0x0001) {
      let field = extra + 4;
      const next = (what: string): number => {
        if (field + 8 > extra + 4 + length) fail(`${at64} has a zip64 field too short for its ${what}`);
        const value = safeNumber(directory.getBigUint64(field, true), what, fail);
        field += 8;
        return value;
      };
      if (size === 0xffffffff) size = next('size');
      if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('offset');
    }
    extra += 4 + length;
  }
  if (method === 0 && compressedSize !== size) fail(`${at64} is stored but its sizes differ (${compressedSize} vs ${size})`);
  if (method === 8 && size > compressedSize * MAX_DEFLATE_RATIO + 1024) fail(`${at64} claims ${size} bytes from ${compressedSize} compressed, more than deflate can produce`);
  return { name, method, compressedSize, size, crc32: crc, localHeaderOffset };
}

function safeNumber(value: bigint, what: string, fail: (fault: string) => never): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`zip ${what} ${value} is out of range`);
  return Number(value);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
