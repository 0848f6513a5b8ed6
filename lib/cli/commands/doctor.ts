/** `otfuse doctor`: what this machine offers the native core (threads, BLAS, GPU). */
import { backendInfo } from '../../compute.ts';
import { defaultDevice } from '../../native.ts';
import type { Command } from '../command.ts';
import { printJson } from '../output.ts';

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'show the compute backends available on this machine',
  usage: 'doctor [--json]',
  options: {},
  positionals: { min: 0, max: 0, names: 'no arguments' },
  async run({ mode }) {
    const info = backendInfo();
    const device = defaultDevice();
    const runsOn = device === 'cpu' || !info.cudaAvailable ? 'cpu' : 'cuda';
    const report = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      threads: info.threads,
      blas: info.blas,
      gemm: info.gemm,
      cpu: info.cpu,
      cudaCompiled: info.cudaCompiled,
      cudaAvailable: info.cudaAvailable,
      ...(info.cudaAvailable ? { cuda: info.cuda } : { cudaUnavailableReason: info.cudaUnavailableReason }),
      ...(info.gpu ? { gpu: info.gpu } : {}),
      ...(info.cudaCompiled ? { cudaDriver: info.cudaDriver ?? null, cudaRuntime: info.cudaRuntime ?? null, cublas: info.cublas ?? null } : {}),
      defaultDevice: runsOn,
    };
    if (mode.json) return printJson(report);
    const lines = [
      `node       ${report.node} (${report.platform})`,
      `threads    ${report.threads} (TF_NUM_THREADS=n changes it)`,
      `cpu        ${info.cpu.replace(/^cpu: /, '')}`,
      `cpu gemm   ${info.gemm}`,
    ];
    if (!info.cudaCompiled) {
      lines.push(`cuda       not compiled into this addon (npm run build:cuda builds it with CUDA)`);
    } else {
      lines.push(`cuda       compiled; runtime ${info.cudaRuntime ?? '?'}, driver ${info.cudaDriver ?? 'none found'}`);
      if (info.gpu) {
        const g = info.gpu;
        lines.push(`gpu        ${g.name}, compute capability ${g.computeCapability}, ${gib(g.memoryBytes)}, ${g.multiprocessors} SMs`);
      } else {
        lines.push(`gpu        not available: ${info.cudaUnavailableReason}`);
      }
      lines.push(`cublas     ${info.cublas ? `${info.cublas} (GPU GEMM uses it)` : 'not found (GPU GEMM uses the built-in tiled kernels)'}`);
    }
    lines.push(`default    --device auto runs on the ${runsOn}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
