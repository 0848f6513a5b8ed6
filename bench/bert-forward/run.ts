/**
 * BERT forward throughput (tokens/s), ours against PyTorch on the CPU, same weights,
 * inputs and thread count, in one run. The model is a small BERT (4 layers, hidden 256, 4
 * heads, MLP 1024, BERT's 30,522-token vocabulary: the shape of Google's
 * bert_uncased_L-4_H-256_A-4) on batches of 32 sequences of 128 tokens, full or with
 * random right padding (32 to 128 real tokens). Cases:
 *   mlm          BertForMaskedLM, every logit (32 x 128 x 30522 floats)
 *   mlm-loss     the masked-LM loss over 15% masked tokens: torch computes every logit
 *                and the loss, as an HF evaluation does; ours decodes the masked tokens only
 *   classifier   BertForSequenceClassification (3 labels)
 * Tokens/s counts real tokens.
 *
 *   npx tsx bench/bert-forward/run.ts [--threads 2,1] [--seconds 2] [--rounds 2]
 *
 * Each thread count runs both sides with that many threads (ours: our pool and
 * OpenBLAS; torch: torch.set_num_threads and OMP_NUM_THREADS); the sides alternate for
 * --rounds rounds and each keeps its best median.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendInfo, setThreads } from '../../lib/compute.ts';
import { writeSafetensors } from '../../lib/io/safetensors.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { bertConfigToHF, bertParameterShapes, createBertModel, type BertConfig, type BertModel } from '../../lib/models/bert.ts';
import type { TokenBatch } from '../../lib/text/batch.ts';
import { seededRandom } from '../../test/helpers/random.ts';
import { machineDescription } from '../machine.ts';
import { medianSeconds } from '../timing.ts';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const threadCounts = arg('threads', '2,1').split(',').map(Number);
const seconds = Number(arg('seconds', '2'));
const rounds = Number(arg('rounds', '2'));
const BATCH = 32, TOKENS = 128, VOCAB = 30522;

function config(head: BertConfig['head']): BertConfig {
  return {
    head, vocabSize: VOCAB, hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024, maxPositions: 512,
    typeVocabSize: 2, layerNormEps: 1e-12, numLabels: 3, tiedDecoder: true, padTokenId: 0,
    labelNames: head === 'masked-lm' ? undefined : ['a', 'b', 'c'],
  };
}

function randomWeights(c: BertConfig, seed: number): Map<string, Tensor> {
  const rand = seededRandom(seed);
  return new Map(bertParameterShapes(c).map(({ name, shape }) => {
    const n = shape.reduce((x, y) => x * y, 1);
    const norm = name.includes('LayerNorm');
    const data = Float32Array.from({ length: n }, () => (norm && name.endsWith('weight') ? 1 : 0) + (rand() - 0.5) * (norm ? 0.2 : 0.1));
    return [name, { dtype: 'F32', shape, data } as Tensor];
  }));
}

/** 32 x 128 token ids ([CLS] first, [SEP] last), padded or not, and 15% MLM labels. */
function inputs(padded: boolean, seed: number): { batch: TokenBatch; labels: Int32Array } {
  const rand = seededRandom(seed);
  const n = BATCH * TOKENS;
  const ids = new Int32Array(n), typeIds = new Int32Array(n), mask = new Uint8Array(n), labels = new Int32Array(n).fill(-100);
  for (let b = 0; b < BATCH; b++) {
    const len = padded ? 32 + Math.floor(rand() * (TOKENS - 32 + 1)) : TOKENS;
    for (let t = 0; t < len; t++) {
      const r = b * TOKENS + t;
      ids[r] = t === 0 ? 101 : t === len - 1 ? 102 : 1000 + Math.floor(rand() * (VOCAB - 1000));
      typeIds[r] = t >= len / 2 ? 1 : 0;
      mask[r] = 1;
      if (t > 0 && t < len - 1 && rand() < 0.15) labels[r] = ids[r];
    }
  }
  return { batch: { ids, typeIds, mask, count: BATCH, tokens: TOKENS }, labels };
}

function median(run: () => Promise<unknown>): Promise<number> {
  return medianSeconds(run, seconds);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'otfuse-bert-bench-'));
  const rows: string[] = [];
  try {
    const models: Record<string, BertModel> = {};
    for (const [name, head] of [['mlm', 'masked-lm'], ['classifier', 'sequence-classification']] as const) {
      const c = config(head);
      const weights = randomWeights(c, name === 'mlm' ? 1 : 2);
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'config.json'), JSON.stringify(bertConfigToHF(c)));
      await writeSafetensors(join(dir, name, 'model.safetensors'), weights);
      models[name] = await createBertModel(c, weights);
    }
    const data: Record<string, ReturnType<typeof inputs>> = { full: inputs(false, 3), padded: inputs(true, 4) };
    for (const [shape, { batch, labels }] of Object.entries(data)) {
      await writeSafetensors(join(dir, `inputs-${shape}.safetensors`), [
        ['input_ids', { dtype: 'I32', shape: [BATCH, TOKENS], data: batch.ids }],
        ['token_type_ids', { dtype: 'I32', shape: [BATCH, TOKENS], data: batch.typeIds }],
        ['attention_mask', { dtype: 'I32', shape: [BATCH, TOKENS], data: Int32Array.from(batch.mask) }],
        ['labels', { dtype: 'I32', shape: [BATCH, TOKENS], data: labels }],
      ]);
    }
    const cases: Array<[string, string, () => Promise<unknown>]> = [];
    for (const [shape, { batch, labels }] of Object.entries(data)) {
      cases.push([`mlm-${shape}`, shape, () => models.mlm.forward(batch)]);
      cases.push([`mlm-loss-${shape}`, shape, () => models.mlm.forward(batch, { labels, logits: false })]);
      cases.push([`classifier-${shape}`, shape, () => models.classifier.forward(batch)]);
    }
    const realTokens = (shape: string) => data[shape].batch.mask.reduce((a, b) => a + b, 0);
    console.log(`# ${machineDescription(threadCounts[0])}`);
    for (const threads of threadCounts) {
      setThreads(threads);
      console.log(`# ours: ${backendInfo().cpu}`);
      const ours: Record<string, number> = {}, theirs: Record<string, number> = {};
      let torch: { torch: string; threads: number; timings: Record<string, number>; logits: Record<string, number[]> } | undefined;
      for (let round = 0; round < rounds; round++) {
        for (const [name, , run] of cases) ours[name] = Math.min(ours[name] ?? Infinity, await median(run));
        const side = spawnSync('/usr/bin/python3', [join(here, 'torch_bert.py'), dir, String(threads), String(seconds)], {
          encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, OMP_NUM_THREADS: String(threads) },
        });
        if (side.status !== 0) throw new Error(`torch side failed:\n${side.stderr}`);
        torch = JSON.parse(side.stdout.trim().split('\n').pop()!);
        for (const [name] of cases) theirs[name] = Math.min(theirs[name] ?? Infinity, torch!.timings[name]);
      }
      for (const shape of Object.keys(data)) {
        const { batch } = data[shape];
        const two = { ...batch, ids: batch.ids.subarray(0, 2 * TOKENS), typeIds: batch.typeIds.subarray(0, 2 * TOKENS), mask: batch.mask.subarray(0, 2 * TOKENS), count: 2 };
        const mlm = (await models.mlm.forward(two)).logits!;
        const cls = (await models.classifier.forward(batch)).logits!;
        console.log(`# torch ${torch!.torch}, ${torch!.threads} thread(s), ${shape}: max |logit difference| masked LM ${maxDiff(mlm, torch!.logits[`mlm-${shape}`]).toExponential(1)}, classifier ${maxDiff(cls, torch!.logits[`classifier-${shape}`]).toExponential(1)}`);
      }
      for (const [name, shape] of cases) {
        const tokens = realTokens(shape);
        const a = tokens / ours[name], b = tokens / theirs[name];
        rows.push(`| ${threads} | ${name.replace(/-(full|padded)$/, '')} | ${shape === 'full' ? '32 x 128' : `32 x 128, ${tokens} real`} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(2)}x |`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('');
  console.log('| threads | case | batch | ours tokens/s | torch tokens/s | ours / torch |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
