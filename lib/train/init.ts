/**
 * Initial weights of a ViT trained from scratch, as Hugging Face's ViTPreTrainedModel
 * initialises them: linear and patch-projection weights, the class token and the
 * position embeddings from a normal distribution with std `initializerRange` (truncated
 * at ±2, as torch's trunc_normal_ does by default), biases 0, LayerNorm weights 1 and
 * biases 0. Each tensor draws from its own seeded stream, so the weights depend on the
 * seed alone.
 */
import type { Tensor } from '../io/tensor.ts';
import { SeededRandom } from '../data/random.ts';
import { vitParameterShapes, type VitConfig } from '../models/vit.ts';

/** Streams of SeededRandom used for initial weights: one per tensor, from here on. */
const INIT_STREAM = 0x494e4954;

/** Standard normal draws (Box-Muller on 32-bit uniforms, never log(0)). */
export function normal(rng: SeededRandom): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = (rng.nextU32() + 1) / 4294967297;
    const v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export function initVitTensors(config: VitConfig, seed: number, initializerRange = 0.02): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  vitParameterShapes(config).forEach(({ name, shape }, index) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const layerNorm = /layernorm/.test(name);
    if (layerNorm && name.endsWith('.weight')) data.fill(1);
    else if (!name.endsWith('.bias')) {
      const draw = normal(new SeededRandom(seed, INIT_STREAM + index));
      for (let i = 0; i < data.length; i++) {
        let x: number;
        do x = draw() * initializerRange;
        while (x < -2 || x > 2);
        data[i] = x;
      }
    }
    out.set(name, { dtype: 'F32', shape, data });
  });
  return out;
}
