#!/usr/bin/env node
// The installed `keyhold` command: runs the compiled CLI (npm run build makes dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/cli/keyhold.js', import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write('keyhold: not built yet; run `npm run build` in the keyhold directory first\n');
  process.exit(2);
}
await import(compiled.href);
