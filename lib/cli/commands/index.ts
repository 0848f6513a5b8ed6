/** Every otfuse subcommand, in the order `otfuse --help` lists them. */
import type { Command } from '../command.ts';
import { doctorCommand } from './doctor.ts';
import { evalCommand } from './eval.ts';
import { inspectCommand } from './inspect.ts';
import { prepareTextCommand } from './prepare-text.ts';
import { runCommand } from './run.ts';

export const commands: Command[] = [runCommand, evalCommand, inspectCommand, prepareTextCommand, doctorCommand];
