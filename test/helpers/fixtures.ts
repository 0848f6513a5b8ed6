/** Paths to the committed model I/O fixtures and what test/fixtures/make_fixtures.py says they hold. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../../lib/io/tensor.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export function fixture(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

export interface ExpectedTensor { dtype: string; shape: number[]; sha256: string; first: number[] }

export const EXPECTED = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Record<string, Record<string, ExpectedTensor>>;

/** SHA-256 of a tensor's values as held in memory (what expected.json records). */
export function valuesHash(tensor: Tensor): string {
  const { data } = tensor;
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

export function readFixture(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(fixture(...parts)));
}
