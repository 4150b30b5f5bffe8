import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import semver from 'semver';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const ours = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
const declared = ours.engines!.node!;

function readManifest(file: string): Manifest {
  return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
}

/** Where Node finds `name` from `directory`: its node_modules, then each parent's. */
function resolveManifest(directory: string, name: string): string | undefined {
  for (let at = directory; ; at = path.dirname(at)) {
    const candidate = path.join(at, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(at) === at) return undefined;
  }
}

/** Every installed package reachable from `names` through dependencies and optional dependencies. */
function installedTree(names: string[]): Manifest[] {
  const seen = new Map<string, Manifest>();
  const visit = (from: string, name: string): void => {
    const file = resolveManifest(from, name);
    if (file === undefined || seen.has(file)) return; // an optional dependency for another platform
    const manifest = readManifest(file);
    seen.set(file, manifest);
    for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) visit(path.dirname(file), dependency);
  };
  for (const name of names) visit(ROOT, name);
  return [...seen.values()];
}

/**
 * The Node releases our engines admit, as x.y.0 from our minimum up to Node 30: ranges are
 * written with minor boundaries (`^20.19.0 || >=22.12.0`), so a gap in one shows at an x.y.0.
 * (semver.subset would also count the prereleases between `^20` and `>=21` as a gap.)
 */
function admittedReleases(): string[] {
  const minimum = semver.minVersion(declared)!;
  const releases = [minimum.version];
  for (let major = minimum.major; major <= 30; major++) {
    for (let minor = 0; minor <= 40; minor++) {
      const version = `${major}.${minor}.0`;
      if (semver.satisfies(version, declared)) releases.push(version);
    }
  }
  return releases;
}

function refusing(manifests: Manifest[], versions: string[]): string[] {
  return manifests.flatMap((manifest) => {
    const range = manifest.engines?.node;
    if (range === undefined) return [];
    const refused = versions.filter((version) => !semver.satisfies(version, range));
    return refused.length === 0 ? [] : [`${manifest.name}@${manifest.version} declares node ${range}, refusing ${refused.slice(0, 3).join(', ')}`];
  });
}

describe('the engines of our dependencies', () => {
  it('declares a Node range with a minimum', () => {
    expect(semver.validRange(declared), declared).to.be.a('string');
    expect(semver.minVersion(declared)?.version).to.match(/^\d+\.\d+\.\d+$/);
  });

  it('admits, for every production dependency and what it pulls in, every Node release our engines admit', () => {
    const production = installedTree(Object.keys(ours.dependencies ?? {}));
    // Tens of packages: a broken walk would find none and pass.
    expect(production.length).to.be.greaterThan(50);
    expect(production.map((manifest) => manifest.name)).to.include('commander');
    expect(refusing(production, admittedReleases())).to.deep.equal([]);
  });

  it('admits, for every dependency including the development ones, our minimum Node, so that `npm ci` on it prints no EBADENGINE warning', () => {
    const everything = installedTree([...Object.keys(ours.dependencies ?? {}), ...Object.keys(ours.devDependencies ?? {})]);
    expect(everything.map((manifest) => manifest.name)).to.include('mocha');
    expect(refusing(everything, [semver.minVersion(declared)!.version])).to.deep.equal([]);
  });

  it('would catch a dependency that needs a newer Node (commander 15 declares >=22.12.0)', () => {
    expect(refusing([{ name: 'commander', version: '15.1.0', engines: { node: '>=22.12.0' } }], admittedReleases())).to.have.length(1);
    expect(refusing([{ name: 'mocha', version: '12.0.3', engines: { node: '^20.19.0 || >=22.12.0' } }], admittedReleases())).to.have.length(1);
    expect(refusing([{ name: 'node-addon-api', version: '8.9.2', engines: { node: '^18 || ^20 || >= 21' } }], admittedReleases())).to.deep.equal([]);
  });
});
