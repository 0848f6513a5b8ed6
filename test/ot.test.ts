/**
 * The TypeScript OT API: cost matrices against a float64 brute force, Sinkhorn against a
 * float64 re-derivation of POT's loop, EMD against brute force, option defaults and
 * checks, progress and cancellation.
 */
import assert from 'node:assert/strict';

import { backendInfo } from '../lib/compute.ts';
import { isAbortError } from '../lib/errors.ts';
import { costMatrix, emd, sinkhorn, sinkhornBatch, type CostLike, type FeatureMatrix } from '../lib/ot.ts';
import { seededRandom } from './helpers/random.ts';

function randomMatrix(rows: number, cols: number, seed: number): FeatureMatrix {
  const rnd = seededRandom(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rnd() * 2 - 1;
  return { data, rows, cols };
}

function randomCost(n: number, m: number, seed: number): CostLike {
  const rnd = seededRandom(seed);
  const data = new Float64Array(n * m);
  for (let i = 0; i < data.length; i++) data[i] = rnd();
  return { data, n, m };
}

/** POT 0.8.2's sinkhorn_knopp for one histogram, in float64 (see bregman.py). */
function potSinkhorn(a: Float64Array, b: Float64Array, c: CostLike, reg: number, numItermax = 1000, stopThr = 1e-9) {
  const { n, m } = c;
  const K = c.data.map((x) => Math.exp(x / -reg));
  let u = new Float64Array(n).fill(1 / n), v = new Float64Array(m).fill(1 / m);
  let ii = 0, converged = false;
  for (ii = 0; ii < numItermax; ii++) {
    const ktu = new Float64Array(m);
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) ktu[j] += K[i * m + j] * u[i];
    v = v.map((_, j) => b[j] / ktu[j]);
    u = u.map((_, i) => {
      let s = 0;
      for (let j = 0; j < m; j++) s += (1 / a[i]) * K[i * m + j] * v[j];
      return 1 / s;
    });
    if (ii % 10 === 0) {
      let e2 = 0;
      for (let j = 0; j < m; j++) {
        let t = 0;
        for (let i = 0; i < n; i++) t += u[i] * K[i * m + j] * v[j];
        e2 += (t - b[j]) ** 2;
      }
      if (Math.sqrt(e2) < stopThr) {
        converged = true;
        break;
      }
    }
  }
  const plan = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) plan[i * m + j] = u[i] * K[i * m + j] * v[j];
  return { plan, iterations: converged ? ii + 1 : ii, converged };
}

function maxRelDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let d = 0, s = 0;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    s = Math.max(s, Math.abs(y[i]));
  }
  return d / s;
}

describe('ot: costMatrix', () => {
  const neuron = (x: FeatureMatrix, k: number, columns: boolean): number[] =>
    columns ? Array.from({ length: x.rows }, (_, t) => x.data[t * x.cols + k]) : Array.from(x.data.subarray(k * x.cols, (k + 1) * x.cols));

  for (const layout of ['columns', 'rows'] as const) {
    it(`euclidean and cosine against float64 brute force (${layout})`, async () => {
      const xa = randomMatrix(23, 9, 1), xb = randomMatrix(23, 13, 2);
      const [xa2, xb2] = layout === 'rows' ? [randomMatrix(9, 23, 1), randomMatrix(13, 23, 2)] : [xa, xb];
      const cols = layout === 'columns';
      const n = cols ? xa2.cols : xa2.rows, m = cols ? xb2.cols : xb2.rows;
      for (const metric of ['euclidean', 'cosine'] as const) {
        for (const squared of [false, true]) {
          const c = await costMatrix(xa2, xb2, { layout, metric, squared, normalize: 'max' });
          assert.equal(c.n, n);
          assert.equal(c.m, m);
          const ref = new Float64Array(n * m);
          for (let i = 0; i < n; i++) {
            const x = neuron(xa2, i, cols);
            for (let j = 0; j < m; j++) {
              const y = neuron(xb2, j, cols);
              if (metric === 'euclidean') {
                const d2 = x.reduce((s, xi, t) => s + (xi - y[t]) ** 2, 0);
                ref[i * m + j] = squared ? d2 : Math.sqrt(d2);
              } else {
                const dot = x.reduce((s, xi, t) => s + xi * y[t], 0);
                const nx = Math.hypot(...x), ny = Math.hypot(...y);
                ref[i * m + j] = Math.max(0, 1 - dot / (nx * ny));
              }
            }
          }
          const mx = Math.max(...ref);
          for (let k = 0; k < ref.length; k++) ref[k] /= mx;
          assert.ok(Math.abs(c.scale - mx) < 1e-9 * mx);
          assert.ok(maxRelDiff(c.data, ref) < 1e-9, `${metric} squared=${squared}`);
        }
      }
    });
  }

  it('precision float32: one SGEMM, within float32 rounding of the float64 costs, both layouts', async () => {
    for (const layout of ['columns', 'rows'] as const) {
      const xa = randomMatrix(300, 40, 11), xb = randomMatrix(300, 50, 12);
      const [a, b] = layout === 'rows' ? [randomMatrix(40, 300, 11), randomMatrix(50, 300, 12)] : [xa, xb];
      for (const metric of ['euclidean', 'cosine'] as const) {
        // float32 is the CPU's SGEMM path; the GPU always accumulates in float64 (below).
        const f64 = await costMatrix(a, b, { layout, metric, normalize: 'max', device: 'cpu' });
        const f32 = await costMatrix(a, b, { layout, metric, normalize: 'max', precision: 'float32', device: 'cpu' });
        const diff = maxRelDiff(f32.data, f64.data);
        // Not the same numbers (float32 products), yet the same costs to float32 precision.
        assert.ok(diff > 0 && diff < 1e-4, `${layout} ${metric}: ${diff}`);
        if (backendInfo().cudaAvailable) {
          const gpu = await costMatrix(a, b, { layout, metric, normalize: 'max', precision: 'float32', device: 'cuda' });
          assert.ok(maxRelDiff(gpu.data, f64.data) < 1e-9, `${layout} ${metric} on the GPU`);
        }
      }
    }
    await assert.rejects(costMatrix(randomMatrix(4, 3, 1), randomMatrix(4, 3, 2), { precision: 'float16' as never }), /precision must be 'float64' or 'float32'/);
  });

  it('clip reports the clipped percentage and clamps like torch', async () => {
    const xa = randomMatrix(10, 6, 3), xb = randomMatrix(10, 7, 4);
    const c = await costMatrix(xa, xb, { normalize: 'max', clip: { reg: 0.5, min: 0.5, max: 1.5 } });
    for (const v of c.data) assert.ok(v >= 0.25 && v <= 0.75);
    assert.ok(c.percentClipped > 0 && c.percentClipped <= 100);
  });

  it('rejects bad shapes and options with messages that name them', async () => {
    const xa = randomMatrix(10, 6, 3), xb = randomMatrix(9, 7, 4);
    await assert.rejects(costMatrix(xa, xb), /same number of features/);
    await assert.rejects(costMatrix(xa, randomMatrix(10, 2, 1), { metric: 'manhattan' as never }), /metric must be 'euclidean' or 'cosine'/);
    await assert.rejects(costMatrix({ data: new Float32Array(3), rows: 2, cols: 2 }, xa), /expected 2 x 2/);
    await assert.rejects(costMatrix(xa, xa, { device: 'tpu' as never }), /unknown device 'tpu'/);
    // A non-finite feature would give its neuron a row the solvers trust; a misspelt option would be ignored.
    const nan = { ...xa, data: xa.data.slice() };
    nan.data[7] = NaN;
    await assert.rejects(costMatrix(nan, xa), /costMatrix: xa\.data\[7\] is NaN; features must be finite/);
    await assert.rejects(costMatrix(xa, xa, { metrc: 'cosine' } as never), /costMatrix options: metrc: unknown option; did you mean 'metric'/);
    await assert.rejects(costMatrix(xa, xa, { clip: { reg: 0.1, mn: 0 } } as never), /costMatrix options: clip: mn: unknown option/);
    await assert.rejects(costMatrix(xa, xa, { clip: { reg: Infinity } }), /costMatrix: clip: reg must be a finite number/);
    // clip: null is no clipping, as leaving it out is.
    assert.deepEqual((await costMatrix(xa, xa, { clip: null } as never)).data, (await costMatrix(xa, xa)).data);
  });

  it('runs where the device option says: cpu by name, auto on the GPU only when one is usable, cuda refused without one', async () => {
    const xa = randomMatrix(10, 6, 3), xb = randomMatrix(10, 7, 4);
    const gpu = backendInfo().cudaAvailable;
    const onCpu = await costMatrix(xa, xb, { device: 'cpu' });
    assert.equal(onCpu.device, 'cpu');
    const auto = await costMatrix(xa, xb, { device: 'auto' });
    assert.equal(auto.device, gpu ? 'cuda' : 'cpu');
    for (let i = 0; i < onCpu.data.length; ++i) assert.ok(Math.abs(auto.data[i] - onCpu.data[i]) <= 1e-9 * (1 + onCpu.data[i]));
    const s = await sinkhorn(undefined, undefined, onCpu, { reg: 0.5, device: 'cpu' });
    assert.equal(s.device, 'cpu');
    if (!gpu) {
      await assert.rejects(costMatrix(xa, xb, { device: 'cuda' }), /CUDA is not available/);
      await assert.rejects(sinkhorn(undefined, undefined, onCpu, { reg: 0.5, device: 'cuda' }), /CUDA is not available/);
    }
    // Exact OT has no GPU solver: 'cuda' is refused with a message that says so.
    await assert.rejects(emd(undefined, undefined, onCpu, { device: 'cuda' }), /exact OT runs on the CPU only/);
  });
});

/** Where the solvers can run here: the CPU, and the GPU when one is usable. */
function devices(): Array<'cpu' | 'cuda'> {
  return backendInfo().cudaAvailable ? ['cpu', 'cuda'] : ['cpu'];
}

describe('ot: sinkhorn', () => {
  it('matches a float64 re-derivation of POT (iterations and plan)', async () => {
    const c = randomCost(14, 19, 5);
    const rnd = seededRandom(6);
    const a = Float64Array.from({ length: 14 }, () => rnd() + 0.1);
    const b = Float64Array.from({ length: 19 }, () => rnd() + 0.1);
    const sa = a.reduce((s, x) => s + x), sb = b.reduce((s, x) => s + x);
    a.forEach((x, i) => (a[i] = x / sa));
    b.forEach((x, i) => (b[i] = x / sb));
    for (const reg of [0.2, 0.05]) {
      const ref = potSinkhorn(a, b, c, reg);
      for (const method of ['sinkhorn', 'sinkhorn_log'] as const) {
        const r = await sinkhorn(a, b, c, { reg, method });
        assert.equal(r.iterations, ref.iterations, `${method} reg=${reg}`);
        assert.equal(r.converged, ref.converged);
        assert.ok(maxRelDiff(r.plan, ref.plan) < 1e-12, `${method} reg=${reg}: ${maxRelDiff(r.plan, ref.plan)}`);
        if (r.converged) assert.ok(r.marginalError < 1e-9);
      }
    }
  });

  it('defaults: uniform marginals, numItermax 1000, stopThr 1e-9', async () => {
    const c = randomCost(30, 30, 7);
    const slow = await sinkhorn(undefined, undefined, c, { reg: 0.003 });
    assert.equal(slow.iterations, 1000);
    assert.equal(slow.converged, false);
    const fast = await sinkhorn([], [], c, { reg: 0.5 });
    assert.ok(fast.converged && fast.marginalError < 1e-9);
    const rows = new Float64Array(30);
    for (let i = 0; i < 30; i++) for (let j = 0; j < 30; j++) rows[i] += fast.plan[i * 30 + j];
    for (const r of rows) assert.ok(Math.abs(r - 1 / 30) < 1e-15);
    // The log scalings reproduce the plan.
    const p = Math.exp(fast.logU[3] - c.data[3 * 30 + 4] / 0.5 + fast.logV[4]);
    assert.ok(Math.abs(p - fast.plan[3 * 30 + 4]) < 1e-16);
  });

  it('reg 1e-4 on costs in [0, 1]: finite, non-negative, marginals kept', async () => {
    const c = randomCost(40, 25, 8);
    for (const device of devices()) {
      const r = await sinkhorn(undefined, undefined, c, { reg: 1e-4, device });
      assert.equal(r.device, device);
      for (const x of r.plan) assert.ok(Number.isFinite(x) && x >= 0);
      for (const x of r.logU) assert.ok(Number.isFinite(x));
      // The CPU's scaling iteration absorbs its scalings into the kernel; the GPU's
      // iteration is on the potentials themselves and has nothing to absorb.
      if (device === 'cpu') assert.ok(r.absorptions > 0);
      else assert.equal(r.absorptions, 0);
      const cols = new Float64Array(25);
      for (let i = 0; i < 40; i++) for (let j = 0; j < 25; j++) cols[j] += r.plan[i * 25 + j];
      if (r.converged) for (const x of cols) assert.ok(Math.abs(x - 1 / 25) < 1e-9, device);
    }
  });

  it('rows and columns without mass stay empty through absorptions: finite plans, zeros there', async () => {
    // A row that must pay a huge cost is absorbed; the zero-mass column's kernel entry must
    // not become exp(+huge) (inf, and a NaN in the plan once multiplied by its zero scaling).
    for (const device of devices()) {
      const huge = await sinkhorn(undefined, [0, 1], { data: Float64Array.from([1, 1e8, 2, 3]), n: 2, m: 2 }, { reg: 1, device });
      // Exact zeros where a marginal is zero; the rest within the stopping tolerance.
      assert.deepEqual(Array.from(huge.plan, (x) => Math.round(x * 1e8) / 1e8), [0, 0.5, 0, 0.5], device);
      assert.equal(huge.plan[0], 0);
      assert.equal(huge.plan[2], 0);
      assert.ok(huge.converged && (device === 'cuda' || huge.absorptions > 0) && Number.isFinite(huge.cost), device);
    }
    // A seeded sweep: zero masses in a and b, costs with ties, negative entries or a range of
    // e^40, reg from 1e-4 up, both methods.
    const rnd = seededRandom(77);
    const marginal = (k: number) => {
      const x = Float64Array.from({ length: k }, () => (rnd() < 0.25 ? 0 : rnd()));
      if (x.every((v) => v === 0)) x[0] = 1;
      const sum = x.reduce((p, q) => p + q, 0);
      return x.map((v) => v / sum);
    };
    for (let t = 0; t < 240; t++) {
      const n = 1 + Math.floor(rnd() * 30), m = 1 + Math.floor(rnd() * 30);
      const kind = t % 4;
      const data = Float64Array.from({ length: n * m }, () =>
        kind === 0 ? Math.floor(rnd() * 3) : kind === 1 ? rnd() - 0.7 : kind === 2 ? Math.exp(40 * (rnd() - 0.5)) : rnd());
      const a = rnd() < 0.5 ? marginal(n) : undefined, b = rnd() < 0.7 ? marginal(m) : undefined;
      const reg = [1e-4, 1e-3, 0.01, 0.08, 1][Math.floor(rnd() * 5)];
      const method = t % 2 ? 'sinkhorn' : 'sinkhorn_log';
      const device = devices()[Math.floor(t / 2) % devices().length];
      const r = await sinkhorn(a, b, { data, n, m }, { reg, method, device });
      const what = `problem ${t}: ${n} x ${m}, kind ${kind}, reg ${reg}, ${method}, ${device}`;
      assert.ok(r.plan.every((x) => Number.isFinite(x) && x >= 0) && Number.isFinite(r.cost) && Number.isFinite(r.marginalError), what);
      for (let i = 0; i < n; i++) for (let j = 0; j < m; j++)
        if ((a && a[i] === 0) || (b && b[j] === 0)) assert.equal(r.plan[i * m + j], 0, `${what}: (${i}, ${j})`);
      if (r.converged) assert.ok(r.marginalError < 1e-9, what);
    }
  });

  it('epsilon scaling reaches the same plan', async () => {
    const c = randomCost(25, 25, 9);
    const plain = await sinkhorn(undefined, undefined, c, { reg: 0.02, numItermax: 5000 });
    const scaled = await sinkhorn(undefined, undefined, c, { reg: 0.02, numItermax: 5000, epsilonScaling: { factor: 0.5 } });
    assert.ok(plain.converged && scaled.converged);
    assert.ok(maxRelDiff(scaled.plan, plain.plan) < 1e-5);
  });

  it('checks its arguments', async () => {
    const c = randomCost(3, 4, 10);
    await assert.rejects(sinkhorn(undefined, undefined, c, {} as never), /reg must be a positive finite number/);
    await assert.rejects(sinkhorn([0.5, 0.5], undefined, c, { reg: 1 }), /a has 2 entries, the cost matrix needs 3/);
    // The options as they are spelt here, not as the core calls them.
    await assert.rejects(sinkhorn(undefined, undefined, c, { reg: 1, stopThr: -1 }), /sinkhorn: stopThr must be a finite number >= 0/);
    await assert.rejects(sinkhorn(undefined, undefined, c, { reg: 1, checkEvery: 0 }), /sinkhorn: checkEvery must be an integer >= 1/);
    await assert.rejects(sinkhorn(undefined, undefined, c, { reg: 1, epsilonScaling: { factor: 2 } }), /sinkhorn: epsilonScaling: factor must be in \(0, 1\)/);
    await assert.rejects(sinkhorn(undefined, undefined, c, { reg: 1, numItermx: 5 } as never), /sinkhorn options: numItermx: unknown option; did you mean 'numItermax'/);
    await assert.rejects(sinkhorn([-1, 1, 1], undefined, c, { reg: 1 }), /a must be finite and non-negative/);
    await assert.rejects(sinkhorn(undefined, undefined, c, { reg: 1, method: 'greenkhorn' as never }), /method must be/);
    await assert.rejects(sinkhorn(undefined, undefined, c, { reg: 1, numItermax: 2.5 }), /numItermax must be a non-negative integer/);
    const bad = { data: Float64Array.from([0, 1, NaN, 0, 1, 1, 1, 1, 1, 1, 1, 1]), n: 3, m: 4 };
    await assert.rejects(sinkhorn(undefined, undefined, bad, { reg: 1 }), /non-finite entry at \(0, 2\)/);
  });

  it('reports progress and stops on abort', async () => {
    const c = randomCost(500, 500, 11);
    const seen: number[] = [];
    const r = await sinkhorn(undefined, undefined, c, { reg: 2e-3, numItermax: 300, onProgress: (d) => seen.push(d) });
    await new Promise((res) => setImmediate(res));
    assert.ok(seen.length >= 1);
    assert.equal(seen[seen.length - 1], 1);
    assert.ok(r.iterations > 0);
    const controller = new AbortController();
    const pending = sinkhorn(undefined, undefined, c, {
      reg: 1e-3, numItermax: 100000, stopThr: 0, signal: controller.signal, onProgress: () => controller.abort(),
    });
    await assert.rejects(pending, (err) => isAbortError(err));
  });
});

describe('ot: sinkhornBatch', () => {
  it('gives each problem what sinkhorn gives it, marginals included, in order', async () => {
    const problems = [
      { cost: randomCost(40, 30, 61) },
      { cost: randomCost(40, 30, 62), a: Array.from({ length: 40 }, (_, i) => (i + 1) / 820) },
      { cost: randomCost(40, 30, 63), b: Array.from({ length: 30 }, (_, j) => (30 - j) / 465) },
    ];
    const options = { reg: 0.05, numItermax: 500 };
    const batch = await sinkhornBatch(problems, options);
    assert.equal(batch.length, 3);
    for (const [k, p] of problems.entries()) {
      const one = await sinkhorn(p.a, p.b, p.cost, options);
      const got = batch[k];
      assert.deepEqual(Array.from(got.plan), Array.from(one.plan), `plan ${k}`);
      assert.deepEqual(Array.from(got.logU), Array.from(one.logU), `logU ${k}`);
      assert.deepEqual(Array.from(got.logV), Array.from(one.logV), `logV ${k}`);
      for (const key of ['iterations', 'converged', 'marginalError', 'cost', 'n', 'm', 'reg', 'device'] as const) assert.equal(got[key], one[key], `${key} ${k}`);
    }
    assert.deepEqual(await sinkhornBatch([], options), []);
  });

  it('reports progress over the whole batch, stops on abort, and checks its problems', async () => {
    const problems = Array.from({ length: 4 }, (_, k) => ({ cost: randomCost(300, 300, 70 + k) }));
    const seen: number[] = [];
    await sinkhornBatch(problems, { reg: 0.01, numItermax: 200, stopThr: 0, onProgress: (d, t) => seen.push(d / t) });
    await new Promise((res) => setImmediate(res));
    assert.ok(seen.length >= 2, `${seen.length} reports`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], 'monotonic');
    assert.equal(seen[seen.length - 1], 1);
    const controller = new AbortController();
    const pending = sinkhornBatch(problems, {
      reg: 1e-3, numItermax: 100000, stopThr: 0, signal: controller.signal, onProgress: () => controller.abort(),
    });
    await assert.rejects(pending, (err) => isAbortError(err));
    await assert.rejects(sinkhornBatch([{ cost: randomCost(3, 3, 1) }, { cost: randomCost(3, 4, 2) }], { reg: 1 }), /problems\[1\]: cost is 3 x 4, problems\[0\]'s 3 x 3/);
    await assert.rejects(sinkhornBatch([{ cost: randomCost(3, 3, 1), a: [1, 2] }], { reg: 1 }), /problems\[0\]: a has 2 entries/);
    await assert.rejects(sinkhornBatch([{ cost: randomCost(3, 3, 1) }], { reg: 0 }), /reg must be a positive finite number/);
  });
});

describe('ot: emd', () => {
  function bruteForce(c: CostLike): number {
    const n = c.n;
    let best = Infinity;
    const perm = Array.from({ length: n }, (_, i) => i);
    const visit = (k: number) => {
      if (k === n) {
        best = Math.min(best, perm.reduce((s, j, i) => s + c.data[i * n + j], 0));
        return;
      }
      for (let t = k; t < n; t++) {
        [perm[k], perm[t]] = [perm[t], perm[k]];
        visit(k + 1);
        [perm[k], perm[t]] = [perm[t], perm[k]];
      }
    };
    visit(0);
    return best / n;
  }

  it('square uniform: the optimal permutation / n, assignment solver chosen automatically', async () => {
    for (let n = 1; n <= 6; n++) {
      const c = randomCost(n, n, 20 + n);
      for (const solver of ['auto', 'network_simplex', 'assignment'] as const) {
        const r = await emd(undefined, undefined, c, { solver });
        assert.ok(Math.abs(r.cost - bruteForce(c)) < 1e-14, `n=${n} ${solver}`);
        assert.equal(r.solver, solver === 'network_simplex' ? 'network_simplex' : 'assignment');
        for (const p of r.plan) assert.ok(p === 0 || Math.abs(p - 1 / n) < 1e-16);
      }
    }
  });

  it('rectangular with any marginals: feasible duals, complementary slackness, marginals', async () => {
    const c = randomCost(7, 11, 30);
    const rnd = seededRandom(31);
    const a = Array.from({ length: 7 }, () => rnd()), b = Array.from({ length: 11 }, () => rnd());
    const sa = a.reduce((s, x) => s + x), sb = b.reduce((s, x) => s + x);
    const an = a.map((x) => x / sa), bn = b.map((x) => x / sb);
    const r = await emd(an, bn, c);
    assert.equal(r.solver, 'network_simplex');
    assert.equal(r.optimal, true);
    let dual = 0;
    for (let i = 0; i < 7; i++) {
      let row = 0;
      for (let j = 0; j < 11; j++) {
        const slack = c.data[i * 11 + j] - r.u[i] - r.v[j];
        assert.ok(slack > -1e-12);
        if (r.plan[i * 11 + j] > 0) assert.ok(Math.abs(slack) < 1e-12);
        row += r.plan[i * 11 + j];
      }
      assert.ok(Math.abs(row - an[i]) < 1e-15);
      dual += an[i] * r.u[i];
    }
    for (let j = 0; j < 11; j++) dual += bn[j] * r.v[j];
    assert.ok(Math.abs(dual - r.cost) < 1e-12);
  });

  it('network simplex reports progress in [0, 1] and stops on abort', async () => {
    const c = randomCost(200, 900, 41);
    const seen: number[] = [];
    const r = await emd(undefined, undefined, c, { onProgress: (d, t) => seen.push(d / t) });
    await new Promise((res) => setImmediate(res));
    assert.equal(r.solver, 'network_simplex');
    assert.ok(seen.length >= 2 && seen.every((x) => x >= 0 && x <= 1));
    assert.equal(seen[seen.length - 1], 1);
    // Aborting a solve in flight (at its first progress report) must stop it: the flag is
    // checked at every pivot block. The problem is big enough (about 0.3 s alone) that the
    // solve cannot finish before the abort arrives even when this thread is descheduled
    // for a while on a loaded machine.
    const big = randomCost(800, 3600, 42);
    const controller = new AbortController();
    const pending = emd(undefined, undefined, big, { signal: controller.signal, onProgress: () => controller.abort() });
    await assert.rejects(pending, (err) => isAbortError(err));
  });

  it('the assignment solver stops on abort during its first phases too', async () => {
    // A square uniform problem of random costs needs few augmenting paths: the abort has
    // to be seen in the column and row reductions, which take most of the time.
    const c = randomCost(4000, 4000, 43);  // one sweep of its 16M costs alone outlasts the 5 ms
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 5);
    const started = performance.now();
    await assert.rejects(emd(undefined, undefined, c, { signal: controller.signal, solver: 'assignment' }), (err) => isAbortError(err));
    assert.ok(performance.now() - started < 2000, 'the abort was seen before the solve ended');
    await assert.rejects(emd(undefined, undefined, c, { solvr: 'assignment' } as never), /emd options: solvr: unknown option; did you mean 'solver'/);
  });

  it('balances masses like POT, rejects unequal ones', async () => {
    const c = randomCost(2, 2, 40);
    const r = await emd([0.5, 0.5], [0.5, 0.5 + 1e-8], c);
    assert.equal(r.massRescaled, true);
    await assert.rejects(emd([0.5, 0.5], [0.5, 0.6], c), /same total mass/);
    await assert.rejects(emd(undefined, undefined, c, { solver: 'hungarian' as never }), /solver must be/);
  });
});
