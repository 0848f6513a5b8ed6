/**
 * The seeded fuzzing harness of the reader tests: a reader given mutated inputs may
 * succeed or throw an InputError (one line); anything else, or a case that runs away,
 * fails with the seed and the mutation that caused it.
 */
import assert from 'node:assert/strict';
import { InputError } from '../../lib/errors.ts';
import type { Mutated, Random } from './mutate.ts';
import { seededRandom } from './random.ts';

// Longer or different runs: OTFUSE_FUZZ_ITERATIONS=200000 OTFUSE_FUZZ_SEED=123 npx mocha test/io/fuzz.test.ts
export const ITERATIONS = Number(process.env.OTFUSE_FUZZ_ITERATIONS ?? 10_000);
export const BASE_SEED = Number(process.env.OTFUSE_FUZZ_SEED ?? 0x5eed0000);

interface Failure { seed: number; base: string; mutation: string; error: string }

/**
 * Runs `iterations` cases (default ITERATIONS); each case's own seed makes it
 * reproducible alone. `read` gets the mutated bytes and the name of the base they came
 * from. `check` may throw on a result that was read but is inconsistent.
 */
export async function fuzz(
  bases: Array<[string, Uint8Array]>,
  mutate: (bytes: Uint8Array, random: Random) => Mutated,
  read: (bytes: Uint8Array, base: string) => Promise<unknown> | unknown,
  check: (result: unknown) => void = () => {},
  iterations = ITERATIONS,
): Promise<{ successes: number; refusals: number }> {
  const failures: Failure[] = [];
  let successes = 0;
  let refusals = 0;
  for (let i = 0; i < iterations; i++) {
    const seed = BASE_SEED + i;
    const random = seededRandom(seed);
    const [base, bytes] = bases[Math.floor(random() * bases.length)];
    const mutated = mutate(bytes, random);
    const started = performance.now();
    try {
      const result = await read(mutated.bytes, base);
      check(result);
      successes++;
    } catch (err) {
      if (err instanceof InputError && !err.message.includes('\n')) refusals++;
      else failures.push({ seed, base, mutation: mutated.description, error: (err as Error)?.stack ?? String(err) });
    }
    const elapsed = performance.now() - started;
    // A guard against runaway work (a length field driving a huge loop or allocation), not a
    // speed test: a normal case takes well under a millisecond, and a loaded machine can
    // stall any one case by far more than that.
    if (elapsed > 5000) failures.push({ seed, base, mutation: mutated.description, error: `took ${elapsed.toFixed(0)} ms` });
  }
  if (failures.length > 0) {
    const shown = failures.slice(0, 5).map((f) => `seed ${f.seed} (${f.base}): ${f.mutation}\n  ${f.error}`).join('\n');
    assert.fail(`${failures.length} of ${iterations} mutated (base seed ${BASE_SEED}) inputs ended in something other than success or an InputError:\n${shown}`);
  }
  // A fuzzer that only ever hits the first check tests little: both outcomes must occur.
  assert.ok(successes > 0 && refusals > 0, `successes ${successes}, refusals ${refusals}`);
  return { successes, refusals };
}
