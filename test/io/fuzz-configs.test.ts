/**
 * Seeded fuzzing of the text parsers: experiment configs, training recipes (ViT and BERT)
 * and WordPiece vocabularies, from mutated bytes or from tampered YAML trees. A parser
 * may return a checked value or throw one InputError naming the file or key; nothing else
 * (a YAML library error, a TypeError, a hang) is allowed through.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYamlTree, stringify } from 'yaml';
import { parseExperimentConfig } from '../../lib/config/load.ts';
import { BertTokenizer } from '../../lib/text/tokenizer.ts';
import { parseVocab } from '../../lib/text/vocab.ts';
import { parseBertTrainConfig } from '../../lib/train/bert-config.ts';
import { parseTrainConfig } from '../../lib/train/config.ts';
import { fuzz, ITERATIONS } from '../helpers/fuzz-harness.ts';
import { GENERIC, mutateMany, tamperJson, type Mutated, type Random } from '../helpers/mutate.ts';

const file = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../${path}`, import.meta.url)));
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** Raw byte mutations, or a field of the parsed YAML tree tampered with and written back. */
function mutateYaml(bytes: Uint8Array, random: Random): Mutated {
  if (random() < 0.4) return mutateMany(bytes, random, GENERIC);
  const { value, description } = tamperJson(parseYamlTree(text(bytes)), random);
  return { bytes: new Uint8Array(Buffer.from(stringify(value))), description };
}

describe('fuzzing the config and vocabulary parsers (seeded)', function () {
  this.timeout(120_000);

  it(`experiment configs: ${ITERATIONS} mutated YAML files give a checked config or an InputError`, async () => {
    const bases: Array<[string, Uint8Array]> = [
      ['configs/demo.yaml', file('configs/demo.yaml')],
      ['configs/bert-fortunes.yaml', file('configs/bert-fortunes.yaml')],
      ['the reference example', file('test/fixtures/configs/reference-example.yaml')],
    ];
    const started = performance.now();
    const outcome = await fuzz(bases, mutateYaml, (bytes) => parseExperimentConfig(text(bytes), 'fuzz.yaml'));
    console.log(`      experiment configs: ${outcome.successes} accepted, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it(`training recipes: ${ITERATIONS} mutated ViT and BERT recipes give a checked recipe or an InputError`, async () => {
    const bases: Array<[string, Uint8Array]> = [
      ['fashion-mnist-vit-a.yaml', file('configs/train/fashion-mnist-vit-a.yaml')],
      ['fortunes-bert-a.yaml', file('configs/train/fortunes-bert-a.yaml')],
    ];
    // Which parser reads a case follows from its text, as `otfuse train` decides by model type.
    const started = performance.now();
    const outcome = await fuzz(bases, mutateYaml, (bytes) => {
      const t = text(bytes);
      return /model_type: *bert|masked/.test(t) ? parseBertTrainConfig(t, 'fuzz.yaml') : parseTrainConfig(t, 'fuzz.yaml');
    });
    console.log(`      training recipes: ${outcome.successes} accepted, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it(`vocabularies: ${ITERATIONS} mutated vocab.txt files give a working tokenizer or an InputError`, async () => {
    const bases: Array<[string, Uint8Array]> = [['bert-a vocab.txt', file('models/fortunes/bert-a/vocab.txt')]];
    const started = performance.now();
    const outcome = await fuzz(bases, (bytes, random) => mutateMany(bytes, random, GENERIC), (bytes) => {
      const tokenizer = new BertTokenizer(parseVocab(text(bytes), 'vocab.txt'));
      return tokenizer.encode('A fool and his money are soon parted, said the 42nd fortune.', undefined, { maxLength: 32 });
    });
    console.log(`      vocabularies: ${outcome.successes} usable, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });
});
