import { createBertModel, bertParameterShapes, type BertConfig } from './lib/models/bert.ts';
import { setThreads } from './lib/compute.ts';
const c: BertConfig = { head: 'masked-lm', vocabSize: 30522, hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024, maxPositions: 512, typeVocabSize: 2, layerNormEps: 1e-12, numLabels: 2, tiedDecoder: true, padTokenId: 0 };
const w = new Map(bertParameterShapes(c).map(({ name, shape }) => [name, { dtype: 'F32' as const, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() * 0.1 - 0.05) }]));
const m = createBertModel(c, w);
const n = 32 * 128;
const batch = { ids: Int32Array.from({ length: n }, (_, i) => 1000 + (i * 7919) % 29000), typeIds: new Int32Array(n), mask: new Uint8Array(n).fill(1), count: 32, tokens: 128 };
const time = async (label: string, f: () => Promise<unknown>) => { await f(); const ts: number[] = []; for (let i = 0; i < 5; i++) { const t = performance.now(); await f(); ts.push(performance.now() - t); } ts.sort((a, b) => a - b); console.log(label, ts.map((x) => x.toFixed(0)).join(' '), 'ms'); };
for (const th of [2, 1, 2]) {
  setThreads(th);
  await time(`t${th} logits`, () => m.forward(batch));
  await time(`t${th} preds `, () => m.forward(batch, { logits: false, predictions: true }));
  await time(`t${th} enc   `, () => m.forward(batch, { logits: false }));
}
