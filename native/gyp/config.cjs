#!/usr/bin/env node
// Build settings for binding.gyp, printed one item per line so gyp's <!@(...) can splice
// them in. Keeping the source list and BLAS detection here lets the gyp build (CPU only)
// and the CMake build (CPU + CUDA) compile exactly the same native/core and native/binding
// files without maintaining two lists.
//
//   node native/gyp/config.cjs sources   C++ sources (native/core without cuda/, native/binding)
//   node native/gyp/config.cjs defines   preprocessor defines (TF_HAVE_CBLAS, TF_HAVE_OPENBLAS)
//   node native/gyp/config.cjs cflags    include flags for the BLAS headers
//   node native/gyp/config.cjs libs      linker flags for the BLAS library
//
// TF_BLAS=none in the environment forces the portable GEMM kernel (no BLAS at all).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');

function listSources() {
  const out = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'cuda') walk(full);
      } else if (entry.name.endsWith('.cpp')) {
        out.push(path.relative(root, full).split(path.sep).join('/'));
      }
    }
  };
  walk(path.join(root, 'native', 'core'));
  walk(path.join(root, 'native', 'binding'));
  return out;
}

function pkgConfig(args) {
  try {
    return execFileSync('pkg-config', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function hasHeader(dirs, name) {
  return dirs.some((d) => fs.existsSync(path.join(d, name)));
}

// Returns { defines, cflags, libs } for the BLAS found on this machine, or the empty
// configuration (portable kernel) when there is none or TF_BLAS=none.
function detectBlas() {
  const none = { defines: [], cflags: [], libs: [] };
  const mode = (process.env.TF_BLAS || 'auto').toLowerCase();
  if (mode === 'none') return none;
  for (const pkg of ['openblas', 'cblas', 'blas']) {
    if (pkgConfig(['--exists', pkg]) === null) continue;
    const cflags = (pkgConfig(['--cflags', pkg]) || '').split(/\s+/).filter(Boolean);
    const libs = (pkgConfig(['--libs', pkg]) || '').split(/\s+/).filter(Boolean);
    const incDirs = cflags.filter((f) => f.startsWith('-I')).map((f) => f.slice(2));
    incDirs.push('/usr/include', '/usr/local/include', '/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu');
    if (!hasHeader(incDirs, 'cblas.h')) continue;
    const defines = ['TF_HAVE_CBLAS=1'];
    if (pkg === 'openblas' || libs.some((l) => l.includes('openblas'))) defines.push('TF_HAVE_OPENBLAS=1');
    // Keep the library directory on the runtime search path: Debian puts OpenBLAS
    // under an alternatives-specific folder that the loader does not search.
    const rpaths = libs.filter((l) => l.startsWith('-L')).map((l) => `-Wl,-rpath,${l.slice(2)}`);
    return { defines, cflags, libs: [...libs, ...rpaths] };
  }
  if (mode !== 'auto') {
    process.stderr.write(`TF_BLAS=${mode} requested but no BLAS with cblas.h was found\n`);
    process.exit(1);
  }
  return none;
}

const what = process.argv[2];
const blas = what === 'sources' ? null : detectBlas();
const items = {
  sources: () => listSources(),
  defines: () => blas.defines,
  cflags: () => blas.cflags,
  libs: () => blas.libs,
}[what];
if (!items) {
  process.stderr.write('usage: config.cjs sources|defines|cflags|libs\n');
  process.exit(1);
}
for (const item of items()) process.stdout.write(`${item}\n`);
