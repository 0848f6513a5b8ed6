/**
 * The finetuning stage of an experiment (the `finetune:` section), for either model
 * kind: the OT-fused model, the repaired one, and with `baselines` the vanilla-fused one
 * and the better parent (for the same steps) are trained in turn on the training split
 * minus the fusion holdout, each with its test curve, which shows where, and whether,
 * the fused model overtakes its parents. The model kind supplies the data and the
 * training of one model (vit-finetune-stage.ts, bert-finetune-stage.ts).
 */
import type { ExperimentConfig } from '../config/experiment.ts';
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { Recipe } from '../train/recipe.ts';
import type { StageHooks } from './stages.ts';

export interface FinetuneCandidate<Config> {
  /** 'ot', 'ot-repaired', 'vanilla' or '<key> (parent)': the report's name and, for OT models, the output folder's. */
  name: string;
  tensors: Map<string, Tensor>;
  config: Config;
}

export interface FinetuneResult<Point> {
  name: string;
  tensors: Map<string, Tensor>;
  curve: Point[];
  steps: number;
  seconds: number;
}

/** A finetuned model as the report lists it. */
export interface FinetunedEntry<Point> {
  name: string;
  from: string;
  steps: number;
  seconds: number;
  /** The last curve point's test accuracy (masked-token accuracy for a masked LM). */
  finalTestAccuracy: number | null;
  curve: Point[];
}

/** Trains one candidate with the run's recipe and data; `onStep` after every optimiser step. */
export type FinetuneOne<Config, Point> = (candidate: FinetuneCandidate<Config>, onStep: (step: number, total: number) => void) => Promise<FinetuneResult<Point>>;

export interface FinetuneInputs<Config> {
  ot: Map<string, Tensor>;
  repaired: Map<string, Tensor> | null;
  vanilla: Map<string, Tensor> | null;
  anchor: number;
  /** Every parent with its test accuracy (null when not evaluated): the better one is a baseline. */
  parents: Array<{ key: string; tensors: Map<string, Tensor>; config: Config; accuracy: number | null }>;
}

/** The recipe keys of the `finetune:` section. */
export function finetuneRecipe(cfg: ExperimentConfig): Recipe {
  const { enabled: _enabled, baselines: _baselines, ...recipe } = cfg.finetune;
  return recipe as Recipe;
}

/** The models the section asks for, in the order they are trained and reported. */
export function finetuneCandidates<Config>(cfg: ExperimentConfig, inputs: FinetuneInputs<Config>): Array<FinetuneCandidate<Config>> {
  const { parents, anchor } = inputs;
  const config = parents[anchor].config;
  const out: Array<FinetuneCandidate<Config>> = [{ name: 'ot', tensors: inputs.ot, config }];
  if (inputs.repaired) out.push({ name: 'ot-repaired', tensors: inputs.repaired, config });
  if (cfg.finetune.baselines) {
    if (inputs.vanilla) out.push({ name: 'vanilla', tensors: inputs.vanilla, config });
    const best = parents.reduce((b, p, i) => ((p.accuracy ?? -1) > (parents[b].accuracy ?? -1) ? i : b), anchor);
    out.push({ name: `${parents[best].key} (parent)`, tensors: parents[best].tensors, config: parents[best].config });
  }
  return out;
}

/**
 * Runs the stage when finetune.enabled: `prepare` loads the data once and returns the
 * training of one model, which every candidate goes through in turn.
 */
export async function finetuneStage<Config, Point>(
  cfg: ExperimentConfig, inputs: FinetuneInputs<Config>, prepare: () => Promise<FinetuneOne<Config, Point>>, hooks: StageHooks,
): Promise<Array<FinetuneResult<Point>>> {
  if (!cfg.finetune.enabled) return [];
  if (!cfg.data.folder) throw new InputError('finetune.enabled', 'needs data.folder (its training split)');
  hooks.stage('finetune', 'loading the finetuning data');
  const train = await prepare();
  hooks.done('finetune');
  const out: Array<FinetuneResult<Point>> = [];
  for (const candidate of finetuneCandidates(cfg, inputs)) {
    // A stage per model, so progress starts afresh; the seconds add up under 'finetune'.
    hooks.stage('finetune', `finetuning ${candidate.name}`);
    out.push(await train(candidate, hooks.progress('finetune')));
    hooks.done('finetune');
  }
  return out;
}

export function finetunedEntries<Point extends { testAccuracy: number | null }>(results: Array<FinetuneResult<Point>>): Array<FinetunedEntry<Point>> {
  return results.map((f) => ({
    name: `${f.name}+finetune`, from: f.name, steps: f.steps, seconds: f.seconds,
    finalTestAccuracy: f.curve[f.curve.length - 1]?.testAccuracy ?? null, curve: f.curve,
  }));
}
