/**
 * The whole fusion run (activation capture + OT fusion) against the reference pipeline on
 * the same two models and the same fusion samples, side by side in one run, plus the
 * peak memory of each side.
 *
 *   npx tsx bench/fusion/run.ts <config.yaml> --reference <checkout> [--threads N] [--set key=value ...] [--json <file>]
 *
 * <checkout> is a copy of github.com/graldij/transformer-fusion (its otfusion package is
 * imported from there by bench/fusion/reference_side.py, with Debian's python3-torch,
 * python3-pot and python3-matplotlib). Without --reference only our side runs.
 * `--set runtime.device=cuda` runs our side on the GPU; --json also writes the figures
 * (device, seconds per stage, peak RSS) to a file, for bench/gpu/run.sh.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadExperimentConfig } from '../../lib/config/load.ts';
import { machineDescription } from '../machine.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    reference: { type: 'string' }, threads: { type: 'string', default: '0' }, set: { type: 'string', multiple: true, default: [] },
    json: { type: 'string' },
  },
});
const configFile = positionals[0];
if (!configFile) throw new Error('usage: bench/fusion/run.ts <config.yaml> [--reference <checkout>] [--threads N]');
const threads = Number(values.threads) || (await import('node:os')).cpus().length;
const overrides = [...(values.set as string[]), `runtime.threads=${threads}`];
const cfg = loadExperimentConfig(configFile, overrides);

/** The experiment config as the reference's code reads it (its YAML keys, Python values). */
function referenceArgs(): Record<string, unknown> {
  const f = cfg.fusion;
  const filter = f.acts.seq_filter;
  return {
    model: { type: 'hf_vit', dataset: cfg.model.dataset, name_0: 'model_0', name_1: 'model_1' },
    fusion: {
      num_models: 2, type: f.type, resid_policy: f.resid_policy, fuse_src_embed: f.fuse_src_embed, fuse_sa: f.fuse_sa,
      qk_fusion: f.qk_fusion, fuse_norm: f.fuse_norm, fuse_fc: f.fuse_fc, fuse_bias: f.fuse_bias, fuse_gen: f.fuse_gen,
      ot_solver: f.ot_solver, sinkhorn_reg: f.sinkhorn_reg, pca: f.pca,
      gnd_metric: { ...f.gnd_metric, mem_eff: true },
      acts: {
        num_samples: f.acts.num_samples, seq_pos: f.acts.seq_pos, avg_seq_items: f.acts.avg_seq_items, loss_thres: false,
        seq_filter: filter === null ? null : filter.kind === 'only_cls' ? 'only_cls' : `window_${filter.size}`,
        mode: 'raw', pre_relu: true, seed: f.acts.seed, std: f.acts.std, center: f.acts.center, norm: f.acts.norm,
      },
      wts: { norm: f.wts.norm },
    },
    regression: { only_eval_ot: true },
  };
}

const work = mkdtempSync(join(tmpdir(), 'otfuse-bench-fusion-'));
try {
  const ours = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'ours.ts'), configFile, work, ...overrides.flatMap((o) => ['--set', o])], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (ours.status !== 0) throw new Error(`our side failed:\n${ours.stderr}`);
  const o = JSON.parse(ours.stdout.trim().split('\n').pop()!);
  let r: { timings: { activations: number; fusion: number }; maxRssBytes: number; layer0MlpInNorm: number; torch: string } | null = null;
  if (values.reference) {
    writeFileSync(join(work, 'args.json'), JSON.stringify(referenceArgs()));
    const ref = spawnSync('/usr/bin/python3', [join(here, 'reference_side.py'), values.reference, work, String(threads)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (ref.status !== 0) throw new Error(`reference side failed:\n${ref.stderr.split('\n').slice(-15).join('\n')}`);
    r = JSON.parse(ref.stdout.trim().split('\n').pop()!);
  }
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(`machine: ${machineDescription(threads)}`);
  console.log(`config: ${configFile}${values.set && (values.set as string[]).length ? ` with ${(values.set as string[]).join(' ')}` : ''}; ${o.samples} fusion samples; ${cfg.fusion.type}, ${cfg.fusion.ot_solver}${cfg.fusion.ot_solver !== 'emd' ? ` (reg ${cfg.fusion.sinkhorn_reg})` : ''}; ours on ${o.device}`);
  console.log('');
  console.log('| stage | ours (s) | reference (s) | reference / ours |');
  console.log('| --- | ---: | ---: | ---: |');
  const row = (name: string, a: number, b?: number) => console.log(`| ${name} | ${a.toFixed(3)} | ${b === undefined ? 'n/a' : b.toFixed(3)} | ${b === undefined ? 'n/a' : `${(b / a).toFixed(1)}x`} |`);
  row('activations', o.seconds.activations ?? 0, r?.timings.activations);
  row('fusion', o.seconds.fusion, r?.timings.fusion);
  row('activations + fusion', (o.seconds.activations ?? 0) + o.seconds.fusion, r ? r.timings.activations + r.timings.fusion : undefined);
  console.log('');
  console.log(`peak RSS: ours ${mib(o.maxRssBytes)} (parents' weights ${mib(o.weightBytes)}, activation store ${mib(o.storeBytesPerModel)} per model; bound 3 x weights + stores = ${mib(3 * o.weightBytes + 2 * o.storeBytesPerModel)})${r ? `; reference ${mib(r.maxRssBytes)}` : ''}`);
  if (r) console.log(`check: |W| of the fused layer 0 MLP input: ours ${o.layer0MlpInNorm.toFixed(4)}, reference ${r.layer0MlpInNorm.toFixed(4)}`);
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({
      config: configFile, device: o.device, samples: o.samples, seconds: o.seconds, maxRssBytes: o.maxRssBytes,
      layer0MlpInNorm: o.layer0MlpInNorm, reference: r,
    }, null, 1)}\n`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
