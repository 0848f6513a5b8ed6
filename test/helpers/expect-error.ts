import assert from 'node:assert/strict';
import { InputError } from '../../lib/errors.ts';

/** Asserts that `run` fails with an InputError whose message matches `pattern`; returns it. */
export async function expectInputError(run: (() => Promise<unknown>) | (() => unknown), pattern: RegExp): Promise<InputError> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected an InputError matching ${pattern}, but nothing was thrown`);
  assert.ok(caught instanceof InputError, `expected an InputError, got ${(caught as Error)?.stack ?? String(caught)}`);
  assert.match(caught.message, pattern);
  assert.ok(!caught.message.includes('\n'), `InputError message should be one line: ${caught.message}`);
  return caught;
}
