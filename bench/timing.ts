/**
 * The timing rule every CPU benchmark here uses: one warm-up call (buffers, thread pool,
 * page faults), then at least 3 timed calls and `seconds` of wall time; the median
 * resists the odd slow call on a shared machine.
 */
export async function medianSeconds(run: () => Promise<unknown>, seconds: number): Promise<number> {
  await run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || performance.now() - start < seconds * 1000) {
    const t0 = performance.now();
    await run();
    times.push((performance.now() - t0) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}
