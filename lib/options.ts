/**
 * Checks of the option objects programmatic calls take: known keys only (a misspelt key
 * is an error that suggests the nearest one, not a silently ignored setting) and values
 * of the right kind, each error naming the option.
 */
import { didYouMean } from './config/suggest.ts';
import { InputError } from './errors.ts';

/** The most native threads a process takes (each is an OS thread, and OpenBLAS starts as many; native kMaxThreads). */
export const MAX_THREADS = 1024;

/** An options object: undefined or a plain object whose keys are all in `known`; `what` names it. */
export function checkOptionKeys(options: unknown, known: readonly string[], what: string): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InputError(what, `must be an object, got ${options === null ? 'null' : typeof options}`);
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new InputError(`${what}: ${key}`, `unknown option${didYouMean(key, [...known]) || `; expected one of ${known.join(', ')}`}`);
  }
}

/** An optional integer option >= min. */
export function checkInteger(value: unknown, name: string, min: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new InputError(name, `must be an integer >= ${min}, got ${String(value)}`);
}

/** An optional option that is one of `values`. */
export function checkOneOf(value: unknown, name: string, values: readonly unknown[]): void {
  if (value !== undefined && !values.includes(value)) throw new InputError(name, `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
}

/** An optional AbortSignal (a look-alike would fail at the first check with a TypeError far from the call). */
export function checkSignal(value: unknown, name: string): void {
  if (value !== undefined && !(value instanceof AbortSignal)) throw new InputError(name, `must be an AbortSignal, got ${value === null ? 'null' : typeof value}`);
}

/** An optional boolean option. */
export function checkBoolean(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'boolean') throw new InputError(name, `must be true or false, got ${JSON.stringify(value) ?? typeof value}`);
}

/** An optional callback option. */
export function checkFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') throw new InputError(name, `must be a function, got ${value === null ? 'null' : typeof value}`);
}
