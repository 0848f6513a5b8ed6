/**
 * A fusion parent for the fusion tests: a random ViT of `cfg` (seeded) with its
 * activations on six images captured (window_2) and finalized with the std transform.
 */
import type { FusionParent } from '../../lib/fusion/index.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { createVitModel } from '../../lib/models/vit.ts';
import { randomTensors, type RefConfig } from './vit-reference.ts';

export async function capturedVitParent(cfg: RefConfig, seed: number, images: Float32Array): Promise<FusionParent> {
  const tensors = randomTensors(cfg, seed) as Map<string, Tensor>;
  const model = await createVitModel({ ...cfg }, tensors);
  const store = model.createActivationStore({ numSamples: 6, seqFilter: 'window_2' });
  await model.capture(store, images, 6);
  await store.finalize('std');
  return { label: `seed ${seed}`, tensors, store };
}
