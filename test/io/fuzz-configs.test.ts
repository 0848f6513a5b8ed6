/**
 * Seeded fuzzing of the text parsers: experiment configs, training recipes (ViT and BERT),
 * sharded-checkpoint indexes, tokenizer settings and WordPiece vocabularies, from mutated
 * bytes or from tampered YAML/JSON trees. A parser
 * may return a checked value or throw one InputError naming the file or key; nothing else
 * (a YAML library error, a TypeError, a hang) is allowed through.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYamlTree, stringify } from 'yaml';
import { parseExperimentConfig } from '../../lib/config/load.ts';
import { parseShardIndex } from '../../lib/io/shard-index.ts';
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

/** Raw byte mutations, or a field of the parsed JSON tampered with. */
function mutateJson(bytes: Uint8Array, random: Random): Mutated {
  if (random() < 0.4) return mutateMany(bytes, random, GENERIC);
  const { value, description } = tamperJson(JSON.parse(text(bytes)), random);
  return { bytes: new Uint8Array(Buffer.from(JSON.stringify(value))), description };
}

describe('fuzzing the config, index, tokenizer and vocabulary parsers (seeded)', function () {
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
    const started = performance.now();
    const outcome = await fuzz(bases, mutateYaml, (bytes, base) =>
      (base.includes('bert') ? parseBertTrainConfig : parseTrainConfig)(text(bytes), 'fuzz.yaml'));
    console.log(`      training recipes: ${outcome.successes} accepted, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it(`checkpoint indexes: ${ITERATIONS} mutated model.safetensors.index.json files give an index or an InputError`, async () => {
    const bases: Array<[string, Uint8Array]> = [['bert shards', file('test/fixtures/bert-tiny-safetensors-sharded/model.safetensors.index.json')]];
    const started = performance.now();
    const outcome = await fuzz(bases, mutateJson, (bytes) => parseShardIndex(text(bytes), 'model.safetensors.index.json'));
    console.log(`      checkpoint indexes: ${outcome.successes} read, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
  });

  it(`tokenizer settings: ${ITERATIONS} mutated tokenizer_config.json and special_tokens_map.json files give a working tokenizer or an InputError`, async () => {
    const folder = 'models/fortunes/bert-a';
    const vocab = text(file(`${folder}/vocab.txt`));
    const bases: Array<[string, Uint8Array]> = [
      ['tokenizer_config.json', file(`${folder}/tokenizer_config.json`)],
      ['special_tokens_map.json', file(`${folder}/special_tokens_map.json`)],
    ];
    const started = performance.now();
    const outcome = await fuzz(bases, mutateJson, (bytes, which) => {
      const files = { 'vocab.txt': vocab, [which]: text(bytes) };
      const tokenizer = BertTokenizer.fromFiles(files, { folder });
      return tokenizer.encode('Never trust a computer you cannot throw out a window.', undefined, { maxLength: 24 });
    });
    console.log(`      tokenizer settings: ${outcome.successes} usable, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
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
