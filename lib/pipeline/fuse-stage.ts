/**
 * The fusion, repair and vanilla stages as every caller runs them (the ViT and BERT
 * experiments, the programmatic fuse()): whatever the architecture, once the activations
 * are captured, the parents are aligned onto the anchor along the model's fusion graph,
 * the OT model's statistics are repaired when fusion.repair asks, and same-shaped
 * parents are also averaged plainly.
 */
import type { ActivationStore } from '../activations.ts';
import type { ExperimentConfig } from '../config/experiment.ts';
import { fuse, sameShapes, vanillaAverage, type FusionGraph, type FusionResult } from '../fusion/index.ts';
import { repairStatistics, type RepairMeasures } from '../fusion/repair.ts';
import type { Tensor } from '../io/tensor.ts';
import type { StageHooks } from './stages.ts';

export interface StageParent {
  /** Names the parent in errors (its folder). */
  label: string;
  tensors: Map<string, Tensor>;
}

/**
 * Aligns every parent onto the anchor and averages them. The stores (one per parent,
 * or null in wts mode without activations) are spent by the walk and disposed here.
 */
export async function fusionStage(
  parents: StageParent[], stores: ActivationStore[] | null, graph: FusionGraph, anchor: number, cfg: ExperimentConfig, hooks: StageHooks,
  what = 'models',
): Promise<FusionResult> {
  const { signal, stage, done, progress } = hooks;
  try {
    stage('fusion', `fusing ${parents.length} ${what} into name_${anchor} (${cfg.fusion.type}, ${cfg.fusion.ot_solver})`);
    let aligned = 0;
    const result = await fuse(parents.map((p, i) => ({ ...p, store: stores?.[i] ?? null })), graph, cfg.fusion, {
      anchor, weights: cfg.fusion.weights, signal, releaseActivations: true,
      solveAhead: cfg.runtime.solve_ahead === 'auto' ? undefined : cfg.runtime.solve_ahead,
      onModelAligned: () => progress('fusion')(++aligned, parents.length - 1),
    });
    done('fusion');
    return result;
  } finally {
    for (const s of stores ?? []) s.dispose();
  }
}

/**
 * The OT model after statistics repair (fusion.repair), or null when it is off.
 * `measure` is asked for only when repair runs (it may need the fusion samples).
 */
export async function repairStage(
  graph: FusionGraph, fused: FusionResult, parents: Array<Map<string, Tensor>>, anchor: number, cfg: ExperimentConfig,
  measure: () => RepairMeasures, hooks: StageHooks,
): Promise<Map<string, Tensor> | null> {
  const repair = cfg.fusion.repair;
  if (repair === 'none') return null;
  hooks.stage('repair', `repairing the OT model's statistics (target: ${repair})`);
  const repaired = await repairStatistics({
    graph, fused: fused.tensors, parents, anchor, outputMaps: fused.outputMaps, weights: fused.weights,
    measure: measure(), signal: hooks.signal, onGroup: hooks.progress('repair'),
  }, repair);
  hooks.done('repair');
  return repaired;
}

/** The parents averaged plainly with the fusion weights (vanilla fusion), or null when their shapes differ. */
export async function vanillaStage(parents: Array<Map<string, Tensor>>, weights: number[], hooks: StageHooks): Promise<Map<string, Tensor> | null> {
  if (!sameShapes(parents)) return null;
  hooks.stage('vanilla', 'averaging the parents plainly (vanilla fusion)');
  const vanilla = await vanillaAverage(parents, weights, { signal: hooks.signal });
  hooks.done('vanilla');
  return vanilla;
}
