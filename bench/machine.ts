/** Names the machine a benchmark ran on, for the recorded tables. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export function machineDescription(threads: number): string {
  let model = cpus()[0]?.model ?? 'unknown CPU';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1].trim();
  } catch {
    // not Linux: os.cpus() is good enough
  }
  return `${model}, ${cpus().length} cores visible, ${threads} threads, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}
