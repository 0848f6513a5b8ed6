/**
 * Transport maps: n x m row-major float32 matrices from the neurons of a model being
 * aligned (rows) to the anchor's (columns), scaled so each row sums to 1 (docs/fusion.md,
 * "One linear layer").
 */
export interface TransportMap {
  data: Float32Array;
  n: number;
  m: number;
}

/** The n x m identity: neuron i to neuron i (for i < min(n, m)). */
export function identityMap(n: number, m: number): TransportMap {
  const data = new Float32Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return { data, n, m };
}
