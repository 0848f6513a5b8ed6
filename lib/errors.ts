/**
 * Errors a user can act on. Anything wrong with an input (a file, a config key, a
 * command-line argument) is an InputError: its message names the file or key at fault,
 * and the CLI prints it on one line and exits with code 2. Any other error is a bug or
 * an environment failure and exits with code 1.
 */
export class InputError extends Error {
  override name = 'InputError';
  readonly code = 'ERR_INPUT';
  /** The file, folder or config key at fault. */
  readonly source: string;
  /** What is wrong with it, without the source. */
  readonly fault: string;

  constructor(source: string, fault: string, options?: { cause?: unknown }) {
    super(`${source}: ${fault}`, options);
    this.source = source;
    this.fault = fault;
  }
}

/**
 * Throws when `signal` is aborted: an AbortError whatever the signal was aborted with
 * (its reason, e.g. a TimeoutError from AbortSignal.timeout, becomes the cause), so that
 * every call of this package rejects the same way on cancellation, as its native tasks do.
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw Object.assign(new DOMException('The operation was aborted', 'AbortError'), { cause: signal.reason });
}

/** True for the AbortError that cancelled native tasks and aborted signals reject with. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR');
}
