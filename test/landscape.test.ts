// The landscape's plane geometry: grid points are the models they claim to be.
import assert from 'node:assert/strict';
import type { Tensor } from '../lib/io/tensor.ts';
import { accuracyLandscape } from '../lib/report/landscape.ts';

const t = (values: number[]): Map<string, Tensor> => new Map([['w', { dtype: 'F32', shape: [values.length], data: Float32Array.from(values) }]]);

describe('accuracy landscape geometry', () => {
  it('puts the anchor at the origin, OT on the first axis and vanilla in the plane, at their distances', async () => {
    const anchor = t([0, 0, 0]), ot = t([4, 0, 0]), vanilla = t([1, 2, 0]);
    const seen: Array<{ x: number; y: number; at: number[] }> = [];
    const l = await accuracyLandscape(anchor, ot, vanilla, async (m) => {
      seen.push({ x: 0, y: 0, at: [...(m.get('w')!.data as Float32Array)] });
      return 0.5;
    }, { points: 5, margin: 0 });
    assert.deepEqual(l.markers.map((m) => [m.label, m.x, m.y]), [['anchor', 0, 0], ['OT fusion', 4, 0], ['vanilla fusion', 1, 2]]);
    assert.deepEqual(l.grid.xs, [0, 1, 2, 3, 4]);
    assert.deepEqual(l.grid.ys, [0, 0.5, 1, 1.5, 2]);
    // Row-major over (y, x): the point at grid (x, y) is x e1 + y e2 with e1, e2 the plane's axes.
    seen.forEach((s, k) => {
      const x = l.grid.xs[k % 5], y = l.grid.ys[Math.floor(k / 5)];
      assert.ok(Math.abs(s.at[0] - x) < 1e-5 && Math.abs(s.at[1] - y) < 1e-5 && Math.abs(s.at[2]) < 1e-6, `point ${k}: ${s.at}`);
    });
  });

  it('refuses collinear models', async () => {
    await assert.rejects(accuracyLandscape(t([0, 0]), t([1, 1]), t([2, 2]), async () => 0, { points: 3, margin: 0 }), /collinear/);
  });
});
