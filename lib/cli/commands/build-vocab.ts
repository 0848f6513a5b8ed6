/** `otfuse build-vocab <text-dataset> --size N`: a WordPiece vocab.txt from a text dataset's training split. */
import { join } from 'node:path';
import { InputError } from '../../errors.ts';
import { preflightOutputFile, writeFileAtomically } from '../../io/atomic-folder.ts';
import { openTextDataset, textDatasetFiles, type ExampleUnit, type TextSplitName } from '../../text/dataset.ts';
import { buildWordPieceVocab, vocabFileText } from '../../text/vocab-builder.ts';
import { integerOption, type Command } from '../command.ts';
import { printJson } from '../output.ts';

const SPLITS: TextSplitName[] = ['train', 'test', 'validation'];

export const buildVocabCommand: Command = {
  name: 'build-vocab',
  summary: 'build a BERT WordPiece vocab.txt from a text dataset (docs/text-data.md)',
  usage: 'build-vocab <text-dataset> --size <n> [--output <file>] [--min-frequency 2] [--split train] [--cased] [--force] [--json]',
  details: [
    'options:',
    '  --size <n>            tokens in the vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK], the characters,',
    '                        their ## continuations, then merged pieces, most frequent first',
    '  --output <file>       where vocab.txt goes (default <text-dataset>/vocab.txt)',
    '  --min-frequency <n>   least count of a character or of a merged pair (default 2)',
    '  --split <s>           train (default), test or validation',
    '  --examples <unit>     lines (default) or paragraphs (only the text matters here)',
    '  --cased               keep case and accents (default: lower-case, as do_lower_case)',
    '  --force               replace an existing file',
    '',
    'The same text and options always give the same file.',
  ].join('\n'),
  options: {
    size: { type: 'string' }, output: { type: 'string' }, 'min-frequency': { type: 'string' }, split: { type: 'string' },
    examples: { type: 'string' }, cased: { type: 'boolean', default: false }, force: { type: 'boolean', default: false },
  },
  positionals: { min: 1, max: 1, names: 'one text dataset folder' },
  async run({ positionals, values, mode }) {
    if (values.size === undefined) throw new InputError('otfuse build-vocab', 'needs --size <tokens>');
    const size = integerOption(values, 'size', 6)!;
    const minFrequency = integerOption(values, 'min-frequency', 1) ?? 2;
    const split = (values.split as string | undefined) ?? 'train';
    if (!SPLITS.includes(split as TextSplitName)) throw new InputError('--split', `expected one of ${SPLITS.join(', ')}, got '${split}'`);
    const unit = (values.examples as string | undefined) ?? 'lines';
    if (unit !== 'lines' && unit !== 'paragraphs') throw new InputError('--examples', `expected lines or paragraphs, got '${unit}'`);
    const output = (values.output as string | undefined) ?? join(positionals[0], 'vocab.txt');
    // The vocabulary may go beside the dataset's text, never over it (even with --force).
    await preflightOutputFile(output, { force: values.force as boolean, protectedFiles: textDatasetFiles(positionals[0]) });
    const data = await openTextDataset(positionals[0], { split: split as TextSplitName, unit: unit as ExampleUnit });
    const texts = data.examples.flatMap((e) => (e.pair === undefined ? [e.text] : [e.text, e.pair]));
    const built = buildWordPieceVocab(texts, { size, minFrequency, lowerCase: !values.cased });
    await writeFileAtomically(output, [Buffer.from(vocabFileText(built.tokens))]);
    const summary = { output, tokens: built.tokens.length, characters: built.characters, merges: built.merges, words: built.words, occurrences: built.occurrences, source: data.description };
    if (mode.json) return printJson(summary);
    const short = built.tokens.length < size ? ` (asked for ${size}: no pair occurs ${minFrequency} times any more)` : '';
    process.stdout.write(`wrote ${output}: ${built.tokens.length} tokens${short}: 5 special, ${built.characters} characters and their continuations, ${built.merges} merged pieces, from ${built.occurrences} words (${built.words} distinct) of ${data.description}\n`);
  },
};
