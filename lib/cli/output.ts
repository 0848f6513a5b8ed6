/**
 * Where the CLI writes: results to stdout, progress and messages to stderr. Progress
 * bars only appear on an interactive terminal, never under CI or with --json, so piped
 * and machine-read output stays clean.
 */
export interface OutputMode {
  json: boolean;
}

/** True when a progress bar may be drawn on stderr. */
export function interactive(mode: OutputMode): boolean {
  return !mode.json && Boolean(process.stderr.isTTY) && !process.env.CI;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Formats rows as an aligned plain-text table (first row is the header). */
export function formatTable(rows: string[][], align: Array<'left' | 'right'> = []): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (align[c] === 'right' ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
