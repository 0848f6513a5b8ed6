/**
 * Cross-check against real POT 0.8.2: test/fixtures/ot/pot_reference.json holds POT's
 * answers on small seeded problems (regenerate with `/usr/bin/python3 bench/ot/pot_reference.py`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { emd, sinkhorn } from '../lib/ot.ts';

interface Problem {
  name: string;
  n: number;
  m: number;
  a: number[];
  b: number[];
  cost: number[];
}
interface SinkhornCase extends Problem {
  reg: number;
  numItermax: number;
  stopThr: number;
  sinkhorn: { plan: number[]; niter: number; lastErr: number; transportCost: number };
  sinkhorn_log: { plan: number[]; niter: number };
}
interface EmdCase extends Problem {
  emd: { plan: number[]; cost: number; u: number[]; v: number[] };
}

const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('./fixtures/ot/pot_reference.json', import.meta.url)), 'utf8'),
) as { pot: string; sinkhorn: SinkhornCase[]; emd: EmdCase[] };

function maxRelDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let d = 0, s = 0;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    s = Math.max(s, Math.abs(y[i]));
  }
  return d / s;
}

function costOf(p: Problem) {
  return { data: Float64Array.from(p.cost), n: p.n, m: p.m };
}

describe(`ot: agreement with POT ${fixture.pot} (fixture)`, () => {
  for (const c of fixture.sinkhorn) {
    it(`sinkhorn, ${c.name}: same iterations and plan as ot.sinkhorn`, async () => {
      const r = await sinkhorn(c.a, c.b, costOf(c), { reg: c.reg, numItermax: c.numItermax, stopThr: c.stopThr });
      // POT's log['niter'] is the index of the last iteration run.
      assert.equal(r.iterations, c.sinkhorn.niter + 1);
      assert.equal(r.converged, c.sinkhorn.lastErr < c.stopThr);
      assert.ok(maxRelDiff(r.plan, c.sinkhorn.plan) < 1e-12, `plan differs by ${maxRelDiff(r.plan, c.sinkhorn.plan)}`);
      assert.ok(Math.abs(r.cost - c.sinkhorn.transportCost) < 1e-13);
    });
    it(`sinkhorn_log, ${c.name}: same plan as ot.sinkhorn(method='sinkhorn_log')`, async () => {
      const r = await sinkhorn(c.a, c.b, costOf(c), {
        reg: c.reg, numItermax: c.numItermax, stopThr: c.stopThr, method: 'sinkhorn_log',
      });
      assert.equal(r.iterations, c.sinkhorn_log.niter + 1);
      assert.ok(maxRelDiff(r.plan, c.sinkhorn_log.plan) < 1e-12);
    });
  }
  for (const c of fixture.emd) {
    it(`emd, ${c.name}: same plan and cost as ot.emd, duals an optimality certificate`, async () => {
      const r = await emd(c.a, c.b, costOf(c));
      assert.ok(Math.abs(r.cost - c.emd.cost) < 1e-14);
      assert.ok(maxRelDiff(r.plan, c.emd.plan) < 1e-12);
      // Duals of degenerate problems are not unique, so they are checked, not compared.
      for (let i = 0; i < c.n; i++)
        for (let j = 0; j < c.m; j++) {
          const slack = c.cost[i * c.m + j] - r.u[i] - r.v[j];
          assert.ok(slack > -1e-12);
          if (r.plan[i * c.m + j] > 0) assert.ok(Math.abs(slack) < 1e-12);
        }
      let au = 0, bv = 0;
      for (let i = 0; i < c.n; i++) au += c.a[i] * r.u[i];
      for (let j = 0; j < c.m; j++) bv += c.b[j] * r.v[j];
      assert.ok(Math.abs(au - bv) < 1e-14, 'duals centred as POT');
    });
  }
});
