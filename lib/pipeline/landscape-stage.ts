/**
 * The landscape stage of an experiment (plots.landscape), for either model kind: a test
 * metric over the plane through the anchor, the OT-fused and the vanilla-fused model
 * (lib/report/landscape.ts), and its SVG. The model kind says how a grid point's tensors
 * are scored (ViT: test accuracy; BERT: masked-token or classification accuracy).
 */
import type { ExperimentConfig } from '../config/experiment.ts';
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import { accuracyLandscape, type Landscape } from '../report/landscape.ts';
import { landscapeSvg } from '../report/landscape-svg.ts';
import type { StageHooks } from './stages.ts';

/** Scores one grid point's tensors on the first plots.landscape_test_limit test examples. */
export type ScoreTensors = (tensors: Map<string, Tensor>) => Promise<number>;

/**
 * The landscape when plots.landscape asks for it. `anchor` holds the parameters the
 * fused models have (under the same names); `score` is null without test data.
 */
export async function landscapeStage(
  cfg: ExperimentConfig, models: { anchor: Map<string, Tensor>; ot: Map<string, Tensor>; vanilla: Map<string, Tensor> | null },
  score: ScoreTensors | null, metric: string, hooks: StageHooks,
): Promise<Landscape | null> {
  if (!cfg.plots.landscape) return null;
  if (!models.vanilla || !score) throw new InputError('plots.landscape', 'needs parents of one shape (for vanilla fusion) and data.folder (for the test set)');
  const points = cfg.plots.landscape_points;
  hooks.stage('landscape', `evaluating the ${metric} landscape (${points} x ${points} models)`);
  const landscape = await accuracyLandscape(models.anchor, models.ot, models.vanilla, score, {
    points, margin: cfg.plots.landscape_margin, signal: hooks.signal, onPoint: hooks.progress('landscape'),
  });
  hooks.done('landscape');
  return landscape;
}

/** landscape.svg's text: `metric` (e.g. "test accuracy") over the plane through `anchorKey`, OT and vanilla fusion. */
export function landscapeFile(landscape: Landscape, anchorKey: string, metric: string): string {
  return landscapeSvg(landscape.grid, landscape.markers, {
    title: `${metric[0].toUpperCase()}${metric.slice(1)} on the plane through ${anchorKey} (anchor), OT and vanilla fusion`, valueLabel: metric,
  });
}
