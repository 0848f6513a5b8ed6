/**
 * The parts of an experiment report and output folder that the ViT (run.ts) and BERT
 * (bert-run.ts) experiments build the same way: the fused models' entries, the name of
 * the activation transform, which fused models are saved, and report.json itself.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tensor } from '../io/tensor.ts';

/** Floating-point parameters of a model (integer buffers are not parameters). */
export function parameterCount(tensors: Map<string, Tensor>): number {
  let n = 0;
  for (const t of tensors.values()) if (t.data instanceof Float32Array) n += t.data.length;
  return n;
}

export interface FusedResult<Test> {
  name: string;
  folder: string | null;
  parameters: number;
  test: Test | null;
}

export interface FusedModels {
  ot: Map<string, Tensor>;
  repaired: Map<string, Tensor> | null;
  vanilla: Map<string, Tensor> | null;
  repair: 'none' | 'anchor' | 'mean';
}

/** The report's vanilla, ot and otRepaired entries (in that order), with the folders they are saved to under `output`. */
export function fusedResults<Test>(
  output: string | null, models: FusedModels, tests: { ot: Test; repaired: Test | null; vanilla: Test | null },
): { vanilla: FusedResult<Test> | null; ot: FusedResult<Test>; otRepaired: (FusedResult<Test> & { target: 'anchor' | 'mean' }) | null } {
  const { ot, repaired, vanilla, repair } = models;
  const folder = (name: string) => (output ? join(output, name) : null);
  return {
    vanilla: vanilla ? { name: 'vanilla', folder: folder('vanilla'), parameters: parameterCount(vanilla), test: tests.vanilla } : null,
    ot: { name: 'ot', folder: folder('ot'), parameters: parameterCount(ot), test: tests.ot },
    otRepaired: repaired && repair !== 'none'
      ? { name: 'ot-repaired', folder: folder('ot-repaired'), parameters: parameterCount(repaired), test: tests.repaired, target: repair }
      : null,
  };
}

/** How the captured activations were transformed, as the report names it (std wins over center over norm). */
export function transformName(acts: { std: boolean; center: boolean; norm: boolean }): string {
  return acts.std ? 'std' : acts.center ? 'center' : acts.norm ? 'norm' : 'none';
}

/** The fused models an output folder holds, by subfolder name. */
export function fusedModelsToSave(models: FusedModels): Array<[string, Map<string, Tensor>]> {
  const out: Array<[string, Map<string, Tensor>]> = [['ot', models.ot]];
  if (models.repaired) out.push(['ot-repaired', models.repaired]);
  if (models.vanilla) out.push(['vanilla', models.vanilla]);
  return out;
}

/** Writes report.json into the output folder being written, with the total time up to now. */
export async function writeReportJson(temp: string, report: unknown, seconds: { total?: number }, started: number): Promise<void> {
  seconds.total = (performance.now() - started) / 1000;
  await writeFile(join(temp, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
}
