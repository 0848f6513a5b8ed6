/**
 * Counts how often the models' rescaleStaged was taken (resolved true) while `run` runs:
 * statistics repair re-enters a layer after each of its rescaled linear groups
 * (lib/pipeline/measure.ts) instead of computing the layer again.
 */
import { StagedModel } from '../../lib/models/native-model.ts';

export async function countReentries<T>(run: () => Promise<T>): Promise<{ result: T; taken: number; refused: number }> {
  const proto = StagedModel.prototype;
  const original = proto.rescaleStaged;
  let taken = 0, refused = 0;
  proto.rescaleStaged = async function (this: typeof proto, ...args: Parameters<typeof original>) {
    const ok = await original.apply(this, args);
    if (ok) taken++;
    else refused++;
    return ok;
  };
  try {
    return { result: await run(), taken, refused };
  } finally {
    proto.rescaleStaged = original;
  }
}
