#!/usr/bin/env node
// A `solc` stand-in for py-solc-x, backed by the pinned npm `solc` (solcjs).
//
// Why: py-solc-x needs a native solc binary, which cannot be downloaded on machines without
// internet, and the solcjs CLI prints a non-JSON line before its `--standard-json` output, which
// py-solc-x cannot parse. This shim answers the two calls py-solc-x makes:
//   solc-shim.js --version                      -> "Version: <x.y.z+commit...>"
//   solc-shim.js --standard-json [--base-path P] [--allow-paths A,B]  (JSON on stdin -> JSON on stdout)
// Imports that the input does not carry are read from the base path, the allowed paths and the
// working directory (how slither's crytic-compile calls solc), then from node_modules here.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface (solcjs shim)\n');
  process.stdout.write('Version: ' + solc.version() + '\n');
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc-shim.js: only --version and --standard-json are supported\n');
  process.exit(2);
}
function option(name) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : null;
}
const allowed = (option('--allow-paths') || '').split(',').filter(Boolean);
const roots = [option('--base-path'), ...allowed, process.cwd(), path.join(__dirname, 'node_modules')].filter(Boolean);

function findImport(importPath) {
  for (const root of roots) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
  }
  return { error: 'File not found: ' + importPath };
}

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  process.stdout.write(solc.compile(input, { import: findImport }));
});
