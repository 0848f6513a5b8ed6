/**
 * A one-line progress bar on stderr for long stages ("collecting activations", "fusing",
 * "evaluating"). On a non-interactive stream it stays silent; the final summary is the
 * caller's job.
 */
import { interactive, type OutputMode } from './output.ts';

export interface Progress {
  /** Reports `done` of `total` units, with an optional short status such as "loss 0.41". */
  update(done: number, total: number, status?: string): void;
  /** Clears the bar (call before printing anything else). */
  done(): void;
}

const silent: Progress = { update() {}, done() {} };

export function progressBar(label: string, mode: OutputMode): Progress {
  if (!interactive(mode)) return silent;
  const started = Date.now();
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total, status) {
      const now = Date.now();
      if (now - lastDraw < 80 && done < total) return;
      lastDraw = now;
      const width = Math.max(10, Math.min(30, (process.stderr.columns ?? 80) - label.length - 40));
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const filled = Math.round(frac * width);
      const elapsed = (now - started) / 1000;
      const eta = frac > 0 && frac < 1 ? ` eta ${formatSeconds((elapsed * (1 - frac)) / frac)}` : '';
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      process.stderr.write(`\r\x1b[2K${label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}%${eta}${status ? `  ${status}` : ''}`);
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[2K');
      drawn = false;
    },
  };
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}
