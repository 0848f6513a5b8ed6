/**
 * The unigram baseline of the bundled BERT parents' test numbers: every masked test token
 * is predicted from its frequency among the training tokens alone (add-one smoothing
 * over the vocabulary), under exactly the masking `otfuse eval` and training use for the
 * test data (packed 64-token blocks, 15%, mask seed 0). A masked LM that learnt
 * something from the context beats its perplexity.
 *
 *   npx tsx models/fortunes/unigram-baseline.ts [data/fortunes-short] [--max-length 64]
 */
import { openTextDataset } from '../../lib/text/dataset.ts';
import { maskTokens } from '../../lib/text/mlm-masking.ts';
import { encodeExamples } from '../../lib/text/sequences.ts';
import { BertTokenizer } from '../../lib/text/tokenizer.ts';
import { readVocab } from '../../lib/text/vocab.ts';

const folder = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'data/fortunes-short';
const at = process.argv.indexOf('--max-length');
const maxLength = at > 0 ? Number(process.argv[at + 1]) : 64;
const tokenizer = new BertTokenizer(await readVocab(`${folder}/vocab.txt`));
const train = encodeExamples(tokenizer, (await openTextDataset(folder, { split: 'train' })).examples, { maxLength, pack: true });
const counts = new Float64Array(tokenizer.vocabSize);
let total = 0;
for (const e of train)
  for (const id of e.ids)
    if (!tokenizer.isSpecial(id)) {
      counts[id]++;
      total++;
    }
const ordinary = counts.filter((_, id) => !tokenizer.isSpecial(id)).length;
const logp = (id: number) => Math.log((counts[id] + 1) / (total + ordinary));
let best = 0;
for (let id = 1; id < counts.length; id++) if (counts[id] > counts[best]) best = id;

const test = encodeExamples(tokenizer, (await openTextDataset(folder, { split: 'test' })).examples, { maxLength, pack: true });
let sum = 0, n = 0, correct = 0;
for (let first = 0; first < test.length; first += 64) {
  const batch = tokenizer.pad(test.slice(first, first + 64));
  const { labels } = maskTokens(batch, tokenizer, { seed: 0, probability: 0.15, firstSequence: first });
  for (const label of labels) {
    if (label < 0) continue;
    sum -= logp(label);
    n++;
    if (label === best) correct++;
  }
}
const loss = sum / n;
console.log(JSON.stringify({
  data: folder, maxLength, trainTokens: total, maskedTestTokens: n, loss: Number(loss.toFixed(4)),
  perplexity: Number(Math.exp(loss).toFixed(2)), accuracy: Number((correct / n).toFixed(4)), mostFrequent: tokenizer.vocab.tokens[best],
}));
