// The addon's basic kernels through the TypeScript API, against float64 references
// computed here, plus the async machinery: errors, cancellation, progress, and the event
// loop staying free while native work runs.
import assert from 'node:assert/strict';
import { backendInfo, gelu, geluBackward, matmul, setThreads, weightedSum, withThreads } from '../lib/compute.ts';
import { isAbortError } from '../lib/errors.ts';
import { native } from '../lib/native.ts';
import { seededRandom } from './helpers/random.ts';
import { erf } from './helpers/reference-ops.ts';

function randomArray(n: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => rand() * 2 - 1);
}

function matmulRef(a: Float32Array, b: Float32Array, m: number, n: number, k: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  return c;
}

describe('native basics', () => {
  it('reports the backend it runs on', () => {
    const info = backendInfo();
    assert.ok(info.threads >= 1);
    assert.match(info.cpu, /^cpu: /);
    assert.equal(typeof info.cudaCompiled, 'boolean');
    if (!info.cudaAvailable) assert.ok(info.cudaUnavailableReason && info.cudaUnavailableReason.length > 0);
  });

  it('matmul matches a float64 product for every transpose combination', async () => {
    for (const [m, n, k] of [[1, 1, 1], [3, 5, 7], [64, 33, 129], [200, 17, 300]]) {
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          const a = randomArray(m * k, m + k), b = randomArray(k * n, n + k + 1);
          const c = await matmul(a, b, m, n, k, { transA: ta, transB: tb });
          const ref = matmulRef(a, b, m, n, k, ta, tb);
          for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(c[i] - ref[i]) < 1e-4 * Math.sqrt(k), `m=${m} n=${n} k=${k} ta=${ta} tb=${tb} at ${i}`);
        }
    }
  });

  it('gelu and its gradient match float64 erf and finite differences', async () => {
    const x = Float32Array.from({ length: 2001 }, (_, i) => -10 + i * 0.01);
    const y = await gelu(x);
    const g = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i] - g(x[i])) < 2e-6 * (1 + Math.abs(x[i])), `gelu(${x[i]})`);
    const dout = randomArray(x.length, 5);
    const d = await geluBackward(x, dout);
    for (let i = 0; i < x.length; i++) {
      const fd = (g(x[i] + 1e-5) - g(x[i] - 1e-5)) / 2e-5;
      assert.ok(Math.abs(d[i] - dout[i] * fd) < 1e-5, `gelu'(${x[i]})`);
    }
  });

  it('weightedSum averages tensors', async () => {
    const xs = [randomArray(10007, 1), randomArray(10007, 2), randomArray(10007, 3)];
    const w = [0.2, 0.3, 0.5];
    const out = await weightedSum(xs, w);
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i] - (0.2 * xs[0][i] + 0.3 * xs[1][i] + 0.5 * xs[2][i])) < 1e-6);
  });

  it('rejects bad arguments with a TypeError naming the argument', async () => {
    await assert.rejects(matmul(new Float32Array(3), new Float32Array(4), 2, 2, 2), /shorter than the given dimensions/);
    assert.throws(() => native().gelu(new Float64Array(3) as unknown as Float32Array, new Float32Array(3)), /gelu: x must be a Float32Array/);
    assert.throws(() => native().weightedSum([new Float32Array(2)], [1, 2], new Float32Array(2)), /one weight per input/);
    await assert.rejects(gelu(new Float32Array(2), { device: 'tpu' as never }), /unknown device 'tpu'/);
  });

  it('a cuda request without a usable GPU fails with the reason, auto falls back to the CPU', async () => {
    const info = backendInfo();
    if (info.cudaAvailable) return; // exercised by the GPU checks instead
    await assert.rejects(gelu(new Float32Array(4), { device: 'cuda' }), /CUDA is not available/);
    assert.equal((await gelu(new Float32Array([1]), { device: 'auto' })).length, 1);
  });

  it('reports progress in order and ends at the total', async () => {
    const xs = [new Float32Array(1 << 23), new Float32Array(1 << 23)];
    const seen: Array<[number, number]> = [];
    await weightedSum(xs, [0.5, 0.5], { onProgress: (d, t) => seen.push([d, t]) });
    await new Promise((r) => setImmediate(r)); // let queued progress calls land
    assert.ok(seen.length >= 1);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] >= seen[i - 1][0]);
    const [done, total] = seen[seen.length - 1];
    assert.equal(done, total);
  });

  it('an AbortSignal cancels a running task with an AbortError', async () => {
    // 64 inputs (one 64 MiB array, repeated): some 4 GB of reads, hundreds of ms, so the
    // abort sent at the first progress report always lands while the work is running.
    const one = new Float32Array(1 << 24).fill(1);
    const big = Array.from({ length: 64 }, () => one);
    const controller = new AbortController();
    const pending = weightedSum(big, big.map(() => 1), {
      signal: controller.signal,
      onProgress: (done) => { if (done >= 1) controller.abort(); },
    });
    await assert.rejects(pending, (err) => isAbortError(err));
    // An already aborted signal never starts the work.
    await assert.rejects(gelu(new Float32Array(1), { signal: AbortSignal.abort() }), (err) => isAbortError(err));
  });

  it('a throwing progress callback rejects the call instead of crashing', async () => {
    const xs = [new Float32Array(1 << 23)];
    await assert.rejects(weightedSum(xs, [1], { onProgress: () => { throw new Error('from the callback'); } }), /from the callback/);
    // Short tasks finish before the loop has served their progress reports; the error must
    // still reach the caller every time.
    for (let i = 0; i < 50; i++) {
      const small = [new Float32Array(1 << 21)];
      await assert.rejects(weightedSum(small, [1], { onProgress: () => { throw new Error(`call ${i}`); } }), new RegExp(`call ${i}$`));
    }
  });

  it('keeps the event loop free while native work runs', async () => {
    const big = Array.from({ length: 6 }, () => new Float32Array(1 << 24));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = Date.now();
    await weightedSum(big, big.map(() => 1));
    const elapsed = Date.now() - started;
    clearInterval(timer);
    if (elapsed >= 20) assert.ok(ticks >= 3, `only ${ticks} timer ticks in ${elapsed} ms`);
  });

  it('resizes the thread pool; withThreads puts the previous size back', async () => {
    // Earlier tests may have left the pool at another size than the machine's default.
    const before = backendInfo().threads;
    assert.equal(setThreads(1), 1);
    const c = await matmul(new Float32Array([1, 2]), new Float32Array([3, 4]), 1, 1, 2);
    assert.equal(c[0], 11);
    setThreads(0);
    const byDefault = backendInfo().threads;
    assert.ok(byDefault >= 1);
    assert.equal(setThreads(before), before);
    const inside = await withThreads(1, async () => backendInfo().threads);
    assert.equal(inside, 1);
    assert.equal(backendInfo().threads, before);
    await assert.rejects(withThreads(1, async () => { throw new Error('boom'); }), /boom/);
    assert.equal(backendInfo().threads, before);
    assert.throws(() => setThreads(-1), RangeError);
  });
});
