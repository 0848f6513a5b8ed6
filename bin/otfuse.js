#!/usr/bin/env node
// The otfuse command. A source checkout (lib/ present) runs the TypeScript in lib/ through
// tsx, so a dist/ left behind by `npm pack` never shadows the sources; an installed
// package (no lib/) runs the compiled JavaScript in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sources = fileURLToPath(new URL('../lib/cli/main.ts', import.meta.url));
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../lib/cli/main.ts');
} else {
  await import(pathToFileURL(fileURLToPath(new URL('../dist/lib/cli/main.js', import.meta.url))).href);
}
