/**
 * The text branch of `otfuse eval` (BERT models): masked-LM loss, perplexity and
 * masked-token accuracy for BertForMaskedLM, accuracy and mean loss for
 * BertForSequenceClassification, on a text dataset folder (lib/text/dataset.ts).
 */
import { InputError } from '../../errors.ts';
import type { Model } from '../../io/model-folder.ts';
import { bertFromModel } from '../../models/bert.ts';
import { evaluateMaskedLm, evaluateTextClassifier } from '../../text-eval.ts';
import { openTextDataset, type ExampleUnit, type TextSplitName } from '../../text/dataset.ts';
import { BertTokenizer } from '../../text/tokenizer.ts';
import { deviceOption, IMAGE_OPTIONS, integerOption, MASKED_LM_OPTIONS, refuseOptions, type CommandContext } from '../command.ts';
import { printJson } from '../output.ts';
import { progressBar } from '../progress.ts';

export const TEXT_EVAL_HELP = [
  'BERT models (text; see docs/text-data.md):',
  '  --data <folder>      train.txt / test.txt / validation.txt, one example per line (a TAB splits a',
  '                       sentence pair); a classifier also needs <split>.labels (one label per line)',
  '  --split test|train|validation   (default test)',
  '  --max-length <n>     tokens per sequence with [CLS] and [SEP] (default 128, at most the model\'s)',
  '  --mask-seed <n>      seed of the 15% masking of a masked LM (default 0)',
  '  --examples lines|paragraphs   what one example is (default lines)',
  '  --pack               masked LM: pack examples into full-length sequences',
  '  --overlong truncate|refuse   over-long examples are cut (default) or an error',
].join('\n');

export async function evalText(folder: string, loaded: Model, { values, signal, mode }: CommandContext): Promise<void> {
  refuseOptions(values, IMAGE_OPTIONS, 'a BERT (a text model)');
  if (loaded.architecture === 'BertForSequenceClassification') refuseOptions(values, MASKED_LM_OPTIONS, 'a sequence classifier');
  const split = values.split as string;
  if (split !== 'test' && split !== 'train' && split !== 'validation') throw new InputError('--split', `expected test, train or validation, got '${split}'`);
  const unit = (values.examples as string | undefined) ?? 'lines';
  if (unit !== 'lines' && unit !== 'paragraphs') throw new InputError('--examples', `expected lines or paragraphs, got '${unit}'`);
  const overlong = (values.overlong as string | undefined) ?? 'truncate';
  if (overlong !== 'truncate' && overlong !== 'refuse') throw new InputError('--overlong', `expected truncate or refuse, got '${overlong}'`);
  const model = await bertFromModel(loaded, { device: deviceOption(values) });
  const maxLength = integerOption(values, 'max-length', 3) ?? Math.min(128, model.config.maxPositions);
  const maskSeed = integerOption(values, 'mask-seed', 0, 2 ** 32 - 1) ?? 0;
  const limit = integerOption(values, 'limit', 1) ?? undefined;
  const batchSize = integerOption(values, 'batch-size', 1) ?? 32;
  const tokenizer = await BertTokenizer.fromFolder(folder, { vocabSize: model.config.vocabSize });
  const isClassifier = model.head === 'sequence-classification';
  const data = await openTextDataset(values.data as string, {
    split: split as TextSplitName, unit: unit as ExampleUnit,
    labels: isClassifier ? { names: model.config.labelNames, numClasses: model.config.numLabels } : undefined,
  });
  const bar = progressBar('evaluating', mode);
  const common = { maxLength, batchSize, limit, truncation: overlong === 'truncate', signal, onProgress: (d: number, t: number) => bar.update(d, t) };
  if (isClassifier) {
    const result = await evaluateTextClassifier(model, tokenizer, data, common);
    bar.done();
    if (mode.json) return printJson({ model: folder, dataset: data.description, maxLength, ...result });
    process.stdout.write([
      `model       ${folder} (BertForSequenceClassification)`,
      `dataset     ${data.description}, max length ${maxLength}`,
      `accuracy    ${(result.accuracy * 100).toFixed(2)}% of ${result.examples} examples`,
      `mean loss   ${result.meanLoss.toFixed(4)}`,
      `throughput  ${result.tokensPerSecond.toFixed(0)} tokens/s (${result.seconds.toFixed(2)} s)`,
    ].join('\n') + '\n');
    return;
  }
  const result = await evaluateMaskedLm(model, tokenizer, data, { ...common, maskSeed, pack: Boolean(values.pack) });
  bar.done();
  if (result.maskedTokens === 0)
    throw new InputError(data.file, `no token was masked in ${result.tokens} tokens (mask seed ${maskSeed}); the split is too small for a 15% masking`);
  if (mode.json) return printJson({ model: folder, dataset: data.description, maxLength, maskSeed, packed: Boolean(values.pack), ...result });
  process.stdout.write([
    `model       ${folder} (BertForMaskedLM)`,
    `dataset     ${data.description}, max length ${maxLength}${values.pack ? ', packed' : ''}, mask seed ${maskSeed}`,
    `mlm loss    ${result.loss.toFixed(4)} (perplexity ${result.perplexity.toFixed(2)}) over ${result.maskedTokens} masked tokens`,
    `accuracy    ${(result.accuracy * 100).toFixed(2)}% of masked tokens`,
    `throughput  ${result.tokensPerSecond.toFixed(0)} tokens/s (${result.sequences} sequences, ${result.seconds.toFixed(2)} s)`,
  ].join('\n') + '\n');
}
