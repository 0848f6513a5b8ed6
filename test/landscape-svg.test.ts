// The landscape plot: iso-lines land where a linear field crosses the level, the SVG is
// well formed, and markers and scale are drawn.
import assert from 'node:assert/strict';
import { isoSegments, landscapeSvg, viridis } from '../lib/report/landscape-svg.ts';

function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `unbalanced </${name}>`);
    else stack.push(name);
  }
  assert.deepEqual(stack, []);
}

describe('landscape svg', () => {
  it('puts iso-lines of a linear field exactly at the level', () => {
    // v = x over a 5 x 4 grid (index coordinates); the 2.25 level is the vertical line x = 2.25.
    const values = Array.from({ length: 4 }, () => [0, 1, 2, 3, 4]);
    const segs = isoSegments(values, 2.25);
    assert.equal(segs.length, 3);
    for (const [xa, , xb] of segs) {
      assert.ok(Math.abs(xa - 2.25) < 1e-12 && Math.abs(xb - 2.25) < 1e-12);
    }
    assert.deepEqual(isoSegments(values, 10), []);
  });

  it('splits a saddle cell into two segments', () => {
    const segs = isoSegments([[1, 0], [0, 1]], 0.5);
    assert.equal(segs.length, 2);
  });

  it('draws a well-formed plot with markers, title and scale', () => {
    const xs = [-0.5, 0, 0.5, 1, 1.5], ys = [-0.5, 0, 0.5, 1];
    const values = ys.map((y) => xs.map((x) => 0.9 - (x - 1) ** 2 - y * y));
    const svg = landscapeSvg({ xs, ys, values }, [{ x: 0, y: 0, label: 'anchor' }, { x: 1, y: 0, label: 'OT <fused>' }], { title: 'accuracy', valueLabel: 'acc' });
    assertWellFormed(svg);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, />anchor</);
    assert.match(svg, />OT &lt;fused&gt;</);
    assert.match(svg, /<path d="M/);
    assert.ok(svg.includes(viridis(1)) && svg.includes(viridis(0)));
  });

  it('rejects grids that do not match their axes', () => {
    assert.throws(() => landscapeSvg({ xs: [0, 1], ys: [0, 1], values: [[1, 2]] }, []), /ys\.length rows/);
  });
});
