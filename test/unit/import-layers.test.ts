import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

/**
 * The layers of src/, top first (docs/development.md). A file may import from its own layer's
 * folders and from the layers below, never from a layer above; a folder counts by its top
 * folder under src/ (src/providers/remote-keys is `providers`), a file directly under src/ by its name.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['server'], // the composition root: start-up, the offline admin commands
  ['cluster'], // the primary and its workers, each serving the api
  ['api'], // the HTTP front
  ['audit', 'backup'], // the audit trail; backups and restore
  ['kms'], // the operations
  ['auth'], // signatures, policies, the replay memory
  ['providers'], // master-key and remote-key providers
  ['metrics'], // what Prometheus scrapes: the measurements, the store's gauges, the metrics listener
  ['store', 'crypto', 'client'], // LevelDB persistence; pure cryptography; the signing client
  ['runtime'], // logging, the HTTPS server, listening and shutdown, TLS
  ['config.ts', 'errors.ts', 'durable-file.ts', 'validation-message.ts', 'protocol'], // settings, typed errors, durable writes, schema problems in words; the wire protocol
];

/**
 * Folders that import no other folder but those listed, whatever their layer allows
 * (protocol-imports.test.ts keeps src/protocol and src/client to theirs).
 */
const SELF_CONTAINED: Readonly<Record<string, readonly string[]>> = {
  crypto: [],
};

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

interface Import {
  /** Both as `src/…/file.ts`. */
  from: string;
  to: string;
  specifier: string;
}

/**
 * The module specifiers a TypeScript source imports: static imports and re-exports (type-only
 * ones too, over several lines too), side-effect imports and dynamic `import('…')`. Static
 * imports are read at the start of a line, as ESM has them at the top level; a line of a
 * comment (`//`, ` * `) is not code.
 */
function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  const staticImport = /^[ \t]*(?:import|export)\b[^'";]*?[\s}*]from\s*['"]([^'"]+)['"]/gm;
  const sideEffect = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
  for (const pattern of [staticImport, sideEffect]) {
    for (const match of source.matchAll(pattern)) specifiers.push(match[1]!);
  }
  for (const line of source.split('\n')) {
    if (/^\s*(?:\/\/|\/?\*)/.test(line)) continue;
    for (const match of line.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specifiers.push(match[1]!);
  }
  return specifiers;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every import of one src/ file from another; relative specifiers only (packages and node: are outside). */
function importGraph(srcDir: string): Import[] {
  const root = path.dirname(srcDir.replace(/\/$/, ''));
  const relative = (file: string) => path.relative(root, file).split(path.sep).join('/');
  return sourceFiles(srcDir).flatMap((file) =>
    importsOf(readFileSync(file, 'utf8'))
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => ({ from: relative(file), to: relative(path.resolve(path.dirname(file), specifier).replace(/\.js$/, '.ts')), specifier })),
  );
}

/** `api` for src/api/…, `config.ts` for src/config.ts. */
function unitOf(file: string): string {
  return file.split('/')[1]!;
}

function layerOf(unit: string): number {
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

function describeImport(i: Import): string {
  return `${i.from} imports '${i.specifier}'`;
}

/** One line per import that points up a layer, leaves a self-contained folder, or comes from or goes to an unplaced folder. */
function layerViolations(imports: readonly Import[]): string[] {
  const problems = new Set<string>();
  for (const i of imports) {
    const from = unitOf(i.from);
    const to = unitOf(i.to);
    if (from === to) continue;
    for (const unit of [from, to]) {
      if (layerOf(unit) < 0) problems.add(`src/${unit} is in no layer: place it in LAYERS (and in docs/development.md)`);
    }
    if (layerOf(from) < 0 || layerOf(to) < 0) continue;
    if (layerOf(to) < layerOf(from)) problems.add(`${describeImport(i)}: ${to} is a layer above ${from}`);
    const allowed = SELF_CONTAINED[from];
    if (allowed && !allowed.includes(to)) problems.add(`${describeImport(i)}: ${from} imports only ${allowed.join(', ') || 'node and packages'}`);
  }
  return [...problems];
}

/** Each import cycle between folders, as the chain of imports that makes it. */
function folderCycles(imports: readonly Import[]): string[] {
  const edges = new Map<string, Map<string, Import>>();
  for (const i of imports) {
    const from = unitOf(i.from);
    const to = unitOf(i.to);
    if (from === to) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, i);
  }
  /** The imports leading from `start` to `goal`, breadth first; undefined if there is no way. */
  const pathBetween = (start: string, goal: string): Import[] | undefined => {
    const cameBy = new Map<string, Import | null>([[start, null]]);
    const queue = [start];
    while (queue.length > 0) {
      const unit = queue.shift()!;
      if (unit === goal) {
        const chain: Import[] = [];
        for (let step = cameBy.get(unit); step; step = cameBy.get(unitOf(step.from))) chain.unshift(step);
        return chain;
      }
      for (const [next, i] of edges.get(unit) ?? []) {
        if (!cameBy.has(next)) {
          cameBy.set(next, i);
          queue.push(next);
        }
      }
    }
    return undefined;
  };
  const cycles = new Map<string, string>();
  for (const [from, targets] of edges) {
    for (const [to, i] of targets) {
      const back = pathBetween(to, from);
      if (!back) continue;
      const units = [from, ...back.map((step) => unitOf(step.from))].sort().join(', ');
      if (!cycles.has(units)) cycles.set(units, `a cycle between ${units}: ${[i, ...back].map(describeImport).join('; ')}`);
    }
  }
  return [...cycles.values()];
}

describe('import layers of src/', () => {
  const imports = importGraph(SRC);

  it('reads every form of import, and none in a comment', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      'import {',
      '  c,',
      '  type C,',
      "} from '../c/c.js';",
      "export { d } from './d.js';",
      "export * from './e.js';",
      "import './f.js';",
      "import fs from 'node:fs';",
      '/**',
      " * import { z } from '../commented/out.js';",
      " *   const { y } = await import('../example/only.js');",
      ' */',
      "// import { x } from '../commented/too.js';",
      'async function load() {',
      "  const { g } = await import('./g.js');",
      '  return g;',
      '}',
    ].join('\n');
    expect(importsOf(source).sort()).to.deep.equal(['../b/b.js', '../c/c.js', './a.js', './d.js', './e.js', './f.js', './g.js', 'node:fs']);
  });

  it('finds the imports of src/, each to a file that exists', () => {
    expect(imports.length, 'imports found in src/').to.be.above(300);
    expect(imports).to.deep.include({ from: 'src/server/server.ts', to: 'src/api/app.ts', specifier: '../api/app.js' });
    const unresolved = imports.filter((i) => !existsSync(path.join(SRC, '..', i.to))).map(describeImport);
    expect(unresolved, 'imports the scan could not resolve').to.deep.equal([]);
  });

  it('names an import from a layer above, from a self-contained folder, and a cycle between folders', () => {
    const up: Import = { from: 'src/store/store.ts', to: 'src/api/app.ts', specifier: '../api/app.js' };
    const back: Import = { from: 'src/crypto/envelope.ts', to: 'src/store/records.ts', specifier: '../store/records.js' };
    const forth: Import = { from: 'src/store/records.ts', to: 'src/crypto/index.ts', specifier: '../crypto/index.js' };
    const unplaced: Import = { from: 'src/api/app.ts', to: 'src/elsewhere/thing.ts', specifier: '../elsewhere/thing.js' };
    expect(layerViolations([up, back, forth, unplaced])).to.deep.equal([
      "src/store/store.ts imports '../api/app.js': api is a layer above store",
      "src/crypto/envelope.ts imports '../store/records.js': crypto imports only node and packages",
      "src/elsewhere is in no layer: place it in LAYERS (and in docs/development.md)",
    ]);
    expect(folderCycles([up, back, forth])).to.deep.equal([
      "a cycle between crypto, store: src/store/records.ts imports '../crypto/index.js'; src/crypto/envelope.ts imports '../store/records.js'",
    ]);
  });

  it('has no import from a layer above, nor from a self-contained folder to another', () => {
    expect(layerViolations(imports)).to.deep.equal([]);
  });

  it('has no import cycle between folders', () => {
    expect(folderCycles(imports)).to.deep.equal([]);
  });
});
