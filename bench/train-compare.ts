/**
 * The plumbing of the training-step benchmarks that time ours against PyTorch
 * (bench/train for the ViT, bench/bert-train for BERT): command-line options, running
 * the torch side, the loss-parity line and the results table. The sides alternate for
 * several rounds and each keeps its best median, so background load on a shared
 * machine costs neither side more than the other.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { backendInfo, setThreads } from '../lib/compute.ts';

/** The value after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** --torch-env A=1,B=2: variables added to the torch side's environment. */
export const torchEnv: Record<string, string> = Object.fromEntries(
  arg('torch-env', '').split(',').filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]),
);

/** Runs a torch-side script with OMP_NUM_THREADS = threads; returns the JSON of its last output line. */
export function runTorch<T>(script: string, args: string[], threads: number): T {
  const run = spawnSync('/usr/bin/python3', [script, ...args], {
    encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, ...torchEnv, OMP_NUM_THREADS: String(threads) },
  });
  if (run.status !== 0) throw new Error(`torch side failed:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as T;
}

/** Prints how closely the two sides' losses agreed over the first steps from the same weights. */
export function logParity(label: string, torch: { torch: string; threads: number; losses: number[] }, ours: number[]): void {
  const diff = Math.max(...ours.map((l, i) => Math.abs(l - torch.losses[i])));
  console.log(`# ${label}: torch ${torch.torch} on ${torch.threads} thread(s); losses of the first ${ours.length} steps: ours ${ours.map((l) => l.toFixed(5)).join(' ')}, torch ${torch.losses.map((l) => l.toFixed(5)).join(' ')} (max difference ${diff.toExponential(1)})`);
}

/** The benchmark's title line (with the machine and any torch environment), then one table row per thread count and model. */
export async function printResults(
  title: string, detail: string, threadCounts: number[], modelNames: string[], header: string[], row: (name: string, threads: number) => Promise<string>,
): Promise<void> {
  console.log(`# ${title}: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} logical cores${detail}` +
    (Object.keys(torchEnv).length ? `; torch side with ${Object.entries(torchEnv).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''));
  const rows: string[] = [];
  for (const threads of threadCounts) {
    setThreads(threads);
    console.log(`# ours: ${backendInfo().cpu}`);
    for (const name of modelNames) rows.push(await row(name, threads));
  }
  console.log('');
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => ' --- |').join('')}`);
  for (const r of rows) console.log(r);
}
