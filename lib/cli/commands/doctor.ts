/** `otfuse doctor`: what this machine offers the native core (threads, BLAS, GPU). */
import { backendInfo } from '../../compute.ts';
import type { Command } from '../command.ts';
import { printJson } from '../output.ts';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'show the compute backends available on this machine',
  usage: 'doctor [--json]',
  options: {},
  positionals: { min: 0, max: 0, names: 'no arguments' },
  async run({ mode }) {
    const info = backendInfo();
    const report = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      threads: info.threads,
      blas: info.blas,
      cpu: info.cpu,
      cudaCompiled: info.cudaCompiled,
      cudaAvailable: info.cudaAvailable,
      ...(info.cudaAvailable ? { cuda: info.cuda } : { cudaUnavailableReason: info.cudaUnavailableReason }),
      defaultDevice: info.cudaAvailable ? 'cuda' : 'cpu',
    };
    if (mode.json) return printJson(report);
    const lines = [
      `node       ${report.node} (${report.platform})`,
      `threads    ${report.threads} (TF_NUM_THREADS=n changes it)`,
      `cpu        ${info.cpu.replace(/^cpu: /, '')}`,
      `cuda       ${info.cudaAvailable ? info.cuda!.replace(/^cuda: /, '') : `not available: ${info.cudaUnavailableReason}`}`,
      `default    --device auto runs on the ${report.defaultDevice}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
