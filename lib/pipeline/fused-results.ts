/**
 * The parts of an experiment report and output folder that the ViT (run.ts) and BERT
 * (bert-run.ts) experiments build the same way: the fused models' entries, the name of
 * the activation transform, which models are saved, and the output folder itself.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentConfig } from '../config/experiment.ts';
import type { FusionResult, MapReport } from '../fusion/index.ts';
import { writeFolderAtomically } from '../io/atomic-folder.ts';
import { saveModel, type Model } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import type { Landscape } from '../report/landscape.ts';
import { finetunedEntries, type FinetunedEntry, type FinetuneResult } from './finetune-stage.ts';
import type { Stage, StageClock, StageHooks } from './stages.ts';
import { throwIfAborted } from '../errors.ts';

/**
 * What every experiment report (report.json) holds, whatever the architecture: `Result`
 * is one model's test result, `Point` a point of a finetuning curve, and `Capture` what
 * the architecture adds to the description of the fusion samples.
 */
export interface ReportCore<Result, Point, Capture extends object = object> {
  parents: Result[];
  anchor: string;
  heterogeneous: boolean;
  weights: number[];
  vanilla: Result | null;
  ot: Result;
  /** The OT model after statistics repair (fusion.repair), or null without it. */
  otRepaired: (Result & { target: 'anchor' | 'mean' }) | null;
  activations: null | ({
    source: string;
    requested: number;
    captured: number;
    kept: number;
    seqFilter: string;
    transform: string;
    bytesPerModel: number;
  } & Capture);
  /** Per non-anchor parent, every transport map computed while aligning it. */
  maps: Array<{ model: string; maps: MapReport[] }>;
  /** The finetuned models (finetune.enabled), each with its test curve. */
  finetuned: Array<FinetunedEntry<Point>>;
  /** The test metric over the plane through anchor, OT and vanilla models (plots.landscape). */
  landscape: Landscape | null;
  seconds: Partial<Record<Stage | 'total', number>>;
  output: string | null;
  /** What the settings make of the fusion that the user should know (e.g. maps they leave arbitrary). */
  warnings: string[];
}

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

/**
 * The models an output folder holds, by subfolder name: the fused ones, then the
 * finetuned OT models (the finetuned baselines are for comparison only).
 */
export function modelsToSave(models: FusedModels, finetuned: Array<{ name: string; tensors: Map<string, Tensor> }>): Array<[string, Map<string, Tensor>]> {
  const out: Array<[string, Map<string, Tensor>]> = [['ot', models.ot]];
  if (models.repaired) out.push(['ot-repaired', models.repaired]);
  if (models.vanilla) out.push(['vanilla', models.vanilla]);
  for (const f of finetuned) if (f.name.startsWith('ot')) out.push([`${f.name}-finetuned`, f.tensors]);
  return out;
}

/** What an experiment of either model kind ends with, for its report. */
export interface RunOutcome<Test, Point> {
  /** The parents' entries, in model order (their names are the config keys). */
  parents: Array<FusedResult<Test>>;
  anchorIndex: number;
  heterogeneous: boolean;
  fused: FusionResult;
  models: FusedModels;
  tests: { ot: Test; repaired: Test | null; vanilla: Test | null };
  finetuned: Array<FinetuneResult<Point & { testAccuracy: number | null }>>;
  landscape: Landscape | null;
  seconds: StageClock['seconds'];
  output: string | null;
  warnings: string[];
}

/**
 * The report both experiments write: the parents, the fused models' entries, then the
 * model kind's `details` (what the fusion data and the test data were), the maps, the
 * finetuned models, the landscape and the time per stage.
 */
export function experimentReport<Test, Point, Details extends object>(o: RunOutcome<Test, Point>, details: Details) {
  return {
    parents: o.parents,
    anchor: o.parents[o.anchorIndex].name,
    heterogeneous: o.heterogeneous,
    weights: o.fused.weights,
    ...fusedResults(o.output, o.models, o.tests),
    ...details,
    maps: o.fused.maps.map((maps, i) => ({ model: o.parents[i].name, maps })).filter((_, i) => i !== o.anchorIndex),
    finetuned: finetunedEntries(o.finetuned),
    landscape: o.landscape,
    seconds: o.seconds,
    output: o.output,
    warnings: o.warnings,
  };
}

export interface ExperimentFolder {
  /** Every model takes the anchor's config, architecture and input files (preprocessor or tokenizer). */
  like: Omit<Model, 'tensors' | 'source'>;
  models: FusedModels;
  finetuned: Array<{ name: string; tensors: Map<string, Tensor> }>;
  /** Other files by name (landscape.svg). */
  files: Record<string, string>;
  report: unknown;
  /** The parents' folders, which the output may never replace. */
  parents: string[];
  /** Other files the run read (its config file), which it may not replace either. */
  inputFiles?: readonly string[];
}

/**
 * The save stage, when output.folder is set: the folder is written in one piece (a
 * temporary folder renamed into place, so a failure leaves nothing half-written) with
 * the models as Hugging Face folders, the other files, and report.json with the total
 * time up to now.
 */
/** The dataset folders an experiment reads (test data, fusion samples), which its output may never replace. */
export function inputDatasets(cfg: ExperimentConfig): string[] {
  return [cfg.data.folder, cfg.data.activations.folder].filter((f): f is string => typeof f === 'string' && f.length > 0);
}

export async function saveStage(cfg: ExperimentConfig, contents: ExperimentFolder, hooks: StageHooks, clock: Pick<StageClock, 'seconds' | 'started'>): Promise<void> {
  const output = cfg.output.folder;
  if (!output) return;
  hooks.stage('save', `writing ${output}`);
  const saveStarted = performance.now();
  throwIfAborted(hooks.signal);
  await writeFolderAtomically(output, { force: cfg.output.force, protectedFolders: contents.parents, protectedData: inputDatasets(cfg), protectedFiles: contents.inputFiles }, async (temp) => {
    for (const [name, tensors] of modelsToSave(contents.models, contents.finetuned)) await saveModel(join(temp, name), { ...contents.like, tensors }, { signal: hooks.signal });
    for (const [name, text] of Object.entries(contents.files)) await writeFile(join(temp, name), text);
    // The file's save and total times stop here, before the report itself is written and
    // the folder renamed; the returned report's save time (hooks.done) includes both.
    const now = performance.now();
    clock.seconds.save = (now - saveStarted) / 1000;
    clock.seconds.total = (now - clock.started) / 1000;
    await writeFile(join(temp, 'report.json'), `${JSON.stringify(contents.report, null, 2)}\n`);
    delete clock.seconds.save;
  });
  hooks.done('save');
}
