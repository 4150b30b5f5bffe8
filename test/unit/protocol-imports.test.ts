import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
// Import and export statements start a line (comment lines start with ` *` or `//`), and so
// does a bare `import '…'`; `import('…')` may stand anywhere in code.
const SPECIFIER = /^(?:import|export)\b[^;]*?\bfrom\s*'([^']+)'|^import\s*'([^']+)'|\bimport\(\s*'([^']+)'/gm;
const COMMENTS = /\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm;

/** Every module specifier in the .ts files of one src folder, with the file that names it. */
function specifiers(folder: string): { file: string; specifier: string }[] {
  const files = readdirSync(join(SRC, folder)).filter((name) => name.endsWith('.ts'));
  const found = files.flatMap((file) =>
    [...readFileSync(join(SRC, folder, file), 'utf8').replace(COMMENTS, '').matchAll(SPECIFIER)].map((match) => ({
      file: `${folder}/${file}`,
      specifier: (match[1] ?? match[2] ?? match[3])!,
    })),
  );
  expect(found, `no imports found in src/${folder}`).to.not.be.empty;
  return found;
}

describe('module boundaries of the wire protocol', () => {
  it('src/protocol loads node built-ins only, so server and client can both import it', () => {
    expect(specifiers('protocol').filter(({ specifier }) => !specifier.startsWith('node:') && !specifier.startsWith('./'))).to.deep.equal([]);
  });

  it('src/client loads node built-ins, its own files and src/protocol, nothing of the server', () => {
    const allowed = (specifier: string) => specifier.startsWith('node:') || specifier.startsWith('./') || specifier.startsWith('../protocol/');
    expect(specifiers('client').filter(({ specifier }) => !allowed(specifier))).to.deep.equal([]);
  });
});
