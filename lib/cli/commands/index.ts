/** Every otfuse subcommand, in the order `otfuse --help` lists them. */
import type { Command } from '../command.ts';
import { buildVocabCommand } from './build-vocab.ts';
import { demoCommand } from './demo.ts';
import { doctorCommand } from './doctor.ts';
import { evalCommand } from './eval.ts';
import { finetuneCommand } from './finetune.ts';
import { fuseCommand } from './fuse.ts';
import { inspectCommand } from './inspect.ts';
import { prepareTextCommand } from './prepare-text.ts';
import { runCommand } from './run.ts';
import { trainCommand } from './train.ts';

export const commands: Command[] = [demoCommand, fuseCommand, runCommand, evalCommand, inspectCommand, trainCommand, finetuneCommand, prepareTextCommand, buildVocabCommand, doctorCommand];
