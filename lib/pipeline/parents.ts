/**
 * The parent models of an experiment: loaded from their folders (never modified), built
 * as native ViTs, and checked to be fusable with each other.
 */
import { InputError } from '../errors.ts';
import { loadModel, type Model } from '../io/model-folder.ts';
import { vitConfigFromHf, vitFromModel, type VitConfig, type VitModel } from '../models/vit.ts';

export interface Parent {
  /** The config key it came from (name_0, ...). */
  key: string;
  folder: string;
  model: Model;
  config: VitConfig;
  /** The native model, built on first use (a copy of the weights in native memory). */
  vit(): Promise<VitModel>;
  /** Frees the native model until it is used again (between stages that do not need it). */
  release(): void;
}

export async function loadParents(names: Record<string, string>, count: number, signal?: AbortSignal): Promise<Parent[]> {
  const models: Model[] = [];
  for (let i = 0; i < count; i++) models.push(await loadModel(names[`name_${i}`], { signal }));
  return parentsFromModels(models);
}

/** Parents from models already in memory; `folder` is where each came from, or a label. */
export function parentsFromModels(models: Model[]): Parent[] {
  const parents = models.map((model, i): Parent => {
    const folder = model.source?.folder ?? `model ${i}`;
    if (model.config.model_type !== 'vit') throw new InputError(folder, `is a ${model.architecture}; model.type hf_vit needs ViTForImageClassification models`);
    const config = vitConfigFromHf(model.config, `${folder}/config.json`);
    // Built on first use: loadModel has already checked the tensors against the config.
    let vit: VitModel | null = null;
    return {
      key: `name_${i}`, folder, model, config,
      async vit() {
        vit ??= await vitFromModel(model);
        return vit;
      },
      release() {
        vit?.dispose();
        vit = null;
      },
    };
  });
  const first = parents[0];
  for (const p of parents.slice(1)) {
    const mismatch = (what: string, x: unknown, y: unknown) =>
      new InputError(p.folder, `has ${what} ${String(x)}, ${first.folder} has ${String(y)}; fused models must share it`);
    if (p.config.imageSize !== first.config.imageSize) throw mismatch('image_size', p.config.imageSize, first.config.imageSize);
    if (p.config.patchSize !== first.config.patchSize) throw mismatch('patch_size', p.config.patchSize, first.config.patchSize);
    if (p.config.numChannels !== first.config.numChannels) throw mismatch('num_channels', p.config.numChannels, first.config.numChannels);
    if (p.config.numLabels !== first.config.numLabels) throw mismatch('num_labels', p.config.numLabels, first.config.numLabels);
    if (p.config.numLayers !== first.config.numLayers) throw mismatch('num_hidden_layers', p.config.numLayers, first.config.numLayers);
    if (p.config.qkvBias !== first.config.qkvBias) throw mismatch('qkv_bias', p.config.qkvBias, first.config.qkvBias);
  }
  return parents;
}
