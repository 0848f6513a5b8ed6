/**
 * Counts how often a model class's rescaleStaged was taken (resolved true) while `run`
 * runs: statistics repair re-enters a layer after each of its rescaled linear groups
 * (lib/pipeline/measure.ts) instead of computing the layer again.
 */
export async function countReentries<T>(
  cls: { prototype: { rescaleStaged(...args: never[]): Promise<boolean> } }, run: () => Promise<T>,
): Promise<{ result: T; taken: number; refused: number }> {
  const original = cls.prototype.rescaleStaged;
  let taken = 0, refused = 0;
  cls.prototype.rescaleStaged = async function (this: unknown, ...args: never[]) {
    const ok = await original.apply(this, args);
    if (ok) taken++;
    else refused++;
    return ok;
  };
  try {
    return { result: await run(), taken, refused };
  } finally {
    cls.prototype.rescaleStaged = original;
  }
}
