/**
 * Draws an accuracy landscape as a standalone SVG: a heat map of a value (test accuracy)
 * over a 2-D grid of parameter-space coordinates, iso-lines by marching squares, and
 * labelled markers for the models the plane passes through (anchor, OT, VF), as in the
 * paper's figure. Pure function of its input; no fonts or scripts are embedded.
 */

export interface LandscapeGrid {
  /** Grid coordinates along the two plane axes (ascending). */
  xs: number[];
  ys: number[];
  /** values[j][i] at (xs[i], ys[j]). */
  values: number[][];
}

export interface LandscapeMarker {
  x: number;
  y: number;
  label: string;
}

export interface LandscapeOptions {
  title?: string;
  valueLabel?: string;
  /** Number of iso-lines between the minimum and maximum value. */
  levels?: number;
  width?: number;
  height?: number;
}

// Viridis, sampled at 9 stops; linear interpolation between them.
const VIRIDIS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const c = VIRIDIS[i].map((a, k) => Math.round(a + (VIRIDIS[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

/** Segments of the iso-line at `level` through the grid, in grid index coordinates. */
export function isoSegments(values: number[][], level: number): Array<[number, number, number, number]> {
  const segs: Array<[number, number, number, number]> = [];
  const ny = values.length, nx = values[0]?.length ?? 0;
  const lerp = (a: number, b: number) => (level - a) / (b - a);
  for (let j = 0; j + 1 < ny; j++)
    for (let i = 0; i + 1 < nx; i++) {
      const v00 = values[j][i], v10 = values[j][i + 1], v01 = values[j + 1][i], v11 = values[j + 1][i + 1];
      // Crossing points on the four cell edges, in order bottom, right, top, left.
      const pts: Array<[number, number]> = [];
      if ((v00 < level) !== (v10 < level)) pts.push([i + lerp(v00, v10), j]);
      if ((v10 < level) !== (v11 < level)) pts.push([i + 1, j + lerp(v10, v11)]);
      if ((v01 < level) !== (v11 < level)) pts.push([i + lerp(v01, v11), j + 1]);
      if ((v00 < level) !== (v01 < level)) pts.push([i, j + lerp(v00, v01)]);
      // Two crossings: one segment; four (a saddle): pair them by the cell-centre value.
      if (pts.length === 2) segs.push([...pts[0], ...pts[1]]);
      if (pts.length === 4) {
        const centre = (v00 + v10 + v01 + v11) / 4;
        if ((centre < level) === (v00 < level)) {
          segs.push([...pts[0], ...pts[1]], [...pts[2], ...pts[3]]);
        } else {
          segs.push([...pts[0], ...pts[3]], [...pts[1], ...pts[2]]);
        }
      }
    }
  return segs;
}

export function landscapeSvg(grid: LandscapeGrid, markers: LandscapeMarker[], options: LandscapeOptions = {}): string {
  const { xs, ys, values } = grid;
  if (xs.length < 2 || ys.length < 2) throw new RangeError('landscapeSvg: need at least a 2 x 2 grid');
  if (values.length !== ys.length || values.some((r) => r.length !== xs.length)) throw new RangeError('landscapeSvg: values must be ys.length rows of xs.length');
  const width = options.width ?? 640, height = options.height ?? 520;
  const margin = { left: 60, right: 110, top: options.title ? 44 : 20, bottom: 50 };
  const pw = width - margin.left - margin.right, ph = height - margin.top - margin.bottom;
  const finite = values.flat().filter(Number.isFinite);
  const lo = Math.min(...finite), hi = Math.max(...finite);
  const span = hi - lo || 1;
  const x0 = xs[0], x1 = xs[xs.length - 1], y0 = ys[0], y1 = ys[ys.length - 1];
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * pw;
  const py = (y: number) => margin.top + ph - ((y - y0) / (y1 - y0)) * ph;
  // Grid index -> plot coordinates, interpolating between (possibly uneven) grid lines.
  const gx = (fi: number) => { const i = Math.min(xs.length - 2, Math.floor(fi)); return px(xs[i] + (xs[i + 1] - xs[i]) * (fi - i)); };
  const gy = (fj: number) => { const j = Math.min(ys.length - 2, Math.floor(fj)); return py(ys[j] + (ys[j + 1] - ys[j]) * (fj - j)); };
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (options.title) {
    // Shrunk to fit a long title inside the width (a sans-serif character is about 0.55 em wide).
    const size = Math.min(15, (width - 20) / (0.55 * options.title.length));
    out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="${f(size)}">${escapeXml(options.title)}</text>`);
  }
  // Heat map: one rectangle per grid point, spanning halfway to its neighbours.
  const edges = (a: number[]) => a.map((v, k) => [k === 0 ? v : (v + a[k - 1]) / 2, k === a.length - 1 ? v : (v + a[k + 1]) / 2]);
  const xe = edges(xs), ye = edges(ys);
  for (let j = 0; j < ys.length; j++)
    for (let i = 0; i < xs.length; i++) {
      const v = values[j][i];
      const [xa, xb] = xe[i], [ya, yb] = ye[j];
      out.push(`<rect x="${f(px(xa))}" y="${f(py(yb))}" width="${f(px(xb) - px(xa) + 0.5)}" height="${f(py(ya) - py(yb) + 0.5)}" fill="${Number.isFinite(v) ? viridis((v - lo) / span) : '#ccc'}"/>`);
    }
  const levels = options.levels ?? 8;
  for (let l = 1; l < levels; l++) {
    const level = lo + (span * l) / levels;
    const d = isoSegments(values, level).map(([a, b, c, e]) => `M${f(gx(a))},${f(gy(b))}L${f(gx(c))},${f(gy(e))}`).join('');
    if (d) out.push(`<path d="${d}" stroke="white" stroke-opacity="0.7" stroke-width="1" fill="none"/>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  for (const m of markers) {
    const mx = px(m.x), my = py(m.y);
    out.push(`<circle cx="${f(mx)}" cy="${f(my)}" r="5" fill="white" stroke="black" stroke-width="1.5"/>`);
    out.push(`<text x="${f(mx + 8)}" y="${f(my - 8)}" fill="white" stroke="black" stroke-width="3" paint-order="stroke">${escapeXml(m.label)}</text>`);
  }
  // Colour bar with its scale.
  const cbx = width - margin.right + 25;
  for (let k = 0; k < 50; k++) {
    out.push(`<rect x="${cbx}" y="${f(margin.top + ph - ((k + 1) * ph) / 50)}" width="16" height="${f(ph / 50 + 0.5)}" fill="${viridis((k + 0.5) / 50)}"/>`);
  }
  out.push(`<rect x="${cbx}" y="${margin.top}" width="16" height="${ph}" fill="none" stroke="black"/>`);
  for (const t of [0, 0.5, 1]) {
    out.push(`<text x="${cbx + 22}" y="${f(margin.top + ph - t * ph + 4)}">${escapeXml((lo + t * span).toFixed(3))}</text>`);
  }
  if (options.valueLabel) out.push(`<text x="${cbx + 8}" y="${margin.top + ph + 30}" text-anchor="middle">${escapeXml(options.valueLabel)}</text>`);
  out.push(`<text x="${margin.left + pw / 2}" y="${height - 12}" text-anchor="middle">direction 1</text>`);
  out.push(`<text x="16" y="${margin.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${margin.top + ph / 2})">direction 2</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
