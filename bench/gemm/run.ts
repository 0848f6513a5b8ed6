/**
 * SGEMM throughput of the CPU backend, side by side in one run: our GEMM through
 * OpenBLAS, our portable blocked kernel (TF_GEMM=blocked, used when no BLAS is
 * installed), and PyTorch's torch.matmul, on the shapes a small ViT's forward pass
 * runs, with the same thread count.
 *
 *   npx tsx bench/gemm/run.ts [--threads N] [--seconds S]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backendInfo, matmul, setThreads } from '../../lib/compute.ts';
import { machineDescription } from '../machine.ts';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '0' }, seconds: { type: 'string', default: '1' }, child: { type: 'boolean', default: false } } });
const threads = setThreads(Number(values.threads));
const seconds = Number(values.seconds);

// (m, n, k): batch 64 x 65 tokens through hidden 384 projections and MLP, and a square.
const shapes: Array<[number, number, number]> = [[4160, 384, 384], [4160, 1536, 384], [4160, 384, 1536], [1024, 1024, 1024], [65, 65, 64]];

async function timeOurs(): Promise<number[]> {
  const out: number[] = [];
  for (const [m, n, k] of shapes) {
    const a = Float32Array.from({ length: m * k }, () => Math.random());
    const b = Float32Array.from({ length: k * n }, () => Math.random());
    await matmul(a, b, m, n, k);
    let reps = 0;
    const start = performance.now();
    do {
      await matmul(a, b, m, n, k);
      reps++;
    } while (performance.now() - start < seconds * 1000);
    out.push((performance.now() - start) / 1000 / reps);
  }
  return out;
}

if (values.child) {
  process.stdout.write(JSON.stringify(await timeOurs()));
} else {
  const self = fileURLToPath(import.meta.url);
  const blocked = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', '--threads', String(threads), '--seconds', String(seconds)], { env: { ...process.env, TF_GEMM: 'blocked' }, encoding: 'utf8' });
  if (blocked.status !== 0) throw new Error(blocked.stderr);
  const torch = spawnSync('/usr/bin/python3', [fileURLToPath(new URL('./torch_side.py', import.meta.url))], { input: JSON.stringify({ shapes, threads, seconds }), encoding: 'utf8' });
  const torchTimes: number[] | null = torch.status === 0 ? JSON.parse(torch.stdout).seconds : null;
  const blas = await timeOurs();
  const blockedTimes: number[] = JSON.parse(blocked.stdout);
  const gflops = (i: number, t: number) => (2 * shapes[i][0] * shapes[i][1] * shapes[i][2]) / t / 1e9;
  console.log(`machine: ${machineDescription(threads)}`);
  console.log(`BLAS: ${backendInfo().blas}`);
  console.log('');
  console.log('| m x n x k | ours, OpenBLAS (GFLOP/s) | ours, blocked kernel (GFLOP/s) | torch.matmul (GFLOP/s) | blocked / OpenBLAS |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  shapes.forEach(([m, n, k], i) => {
    const t = torchTimes ? gflops(i, torchTimes[i]).toFixed(1) : 'n/a';
    console.log(`| ${m} x ${n} x ${k} | ${gflops(i, blas[i]).toFixed(1)} | ${gflops(i, blockedTimes[i]).toFixed(1)} | ${t} | ${(blas[i] / blockedTimes[i]).toFixed(2)} |`);
  });
  if (!torchTimes) console.log(`\n(PyTorch side unavailable: ${torch.stderr?.split('\n').slice(-2).join(' ')})`);
}
