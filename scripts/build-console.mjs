// Builds the web console (console/) into dist/console/: app.js bundled by esbuild with Preact,
// index.html and app.css copied. No inline script or style: the console's CSP forbids them.
// Type-checking is `tsc -p console`, run by `npm run build` before this.
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'console');
const out = path.join(root, 'dist', 'console');

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(source, 'src', 'main.tsx')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) copyFileSync(path.join(source, file), path.join(out, file));
console.log(`console built into ${path.relative(root, out)}`);
