/**
 * The otfuse command line: dispatches to a subcommand, turns Ctrl-C into cancellation,
 * and maps failures to exit codes: 2 for bad input (an InputError names the file or key
 * at fault), 130 when cancelled, 1 for anything else.
 */
import { InputError, isAbortError } from '../errors.ts';
import { commands } from './commands/index.ts';
import { parseCommandArgs, type Command } from './command.ts';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'otfuse: fuse transformers with optimal transport',
    '',
    'usage: otfuse <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `otfuse <command> --help` for a command\'s options.',
  ].join('\n');
}

function commandHelp(cmd: Command): string {
  return [`usage: otfuse ${cmd.usage}`, '', cmd.summary, ...(cmd.details ? ['', cmd.details] : [])].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // `otfuse help <command>` is `otfuse <command> --help`.
  const helped = name === 'help' && rest.length > 0 ? commands.find((c) => c.name === rest[0]) : undefined;
  if (helped) {
    process.stdout.write(`${commandHelp(helped)}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const { packageRoot } = await import('../native.ts');
    process.stdout.write(`${JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')).version}\n`);
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('\notfuse: cancelling (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    if (!cmd) throw new InputError('otfuse', `unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`);
    const { positionals, values } = parseCommandArgs(cmd, rest);
    if (values.help) {
      process.stdout.write(`${commandHelp(cmd)}\n`);
      return 0;
    }
    await cmd.run({ positionals, values, signal: controller.signal, mode: { json: Boolean(values.json) } });
    return 0;
  } catch (err) {
    if (err instanceof InputError) {
      process.stderr.write(`${err.source.startsWith('otfuse') ? '' : 'otfuse: '}${err.message}\n`);
      return 2;
    }
    if (isAbortError(err)) {
      process.stderr.write('otfuse: cancelled\n');
      return 130;
    }
    process.stderr.write(`otfuse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

process.exitCode = await main(process.argv.slice(2));
