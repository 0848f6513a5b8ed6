/** `otfuse prepare-text <out-folder>`: a train/test text dataset from the Debian fortunes corpus. */
import { prepareFortunes } from '../../text/corpus/fortunes.ts';
import { integerOption, numberOption, type Command } from '../command.ts';
import { printJson } from '../output.ts';

export const prepareTextCommand: Command = {
  name: 'prepare-text',
  summary: 'write a train/test text dataset (for BERT) from the Debian fortunes corpus',
  usage: 'prepare-text <out-folder> [--source /usr/share/games/fortunes] [--test-fraction 0.05] [--seed 0] [--max-chars n] [--force]',
  details: [
    'options:',
    '  --source <folder>    fortune cookie files (default /usr/share/games/fortunes, from',
    '                       `apt-get install fortunes`)',
    '  --test-fraction <f>  share of cookies in test.txt (default 0.05)',
    '  --seed <n>           seed of the hash that splits train and test (default 0)',
    '  --max-chars <n>      keep only cookies of at most n characters (default: all)',
    '  --force              replace an existing output folder',
  ].join('\n'),
  options: {
    source: { type: 'string' },
    'test-fraction': { type: 'string' },
    seed: { type: 'string' },
    'max-chars': { type: 'string' },
    force: { type: 'boolean', default: false },
  },
  positionals: { min: 1, max: 1, names: 'one output folder' },
  async run({ positionals, values, mode }) {
    const result = await prepareFortunes(positionals[0], {
      source: values.source as string | undefined,
      testFraction: numberOption(values, 'test-fraction', 0.05, 0, 1),
      seed: integerOption(values, 'seed', 0, 2 ** 32 - 1) ?? 0,
      force: Boolean(values.force),
      maxChars: integerOption(values, 'max-chars', 1) ?? undefined,
    });
    if (mode.json) return printJson({ ...result, files: result.files.length });
    process.stdout.write(`wrote ${result.folder}: ${result.train} train and ${result.test} test examples from ${result.files.length} files (${result.duplicates} duplicates dropped)\n`);
  },
};
