import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Keyhold's version, from its package.json: the first one named keyhold above this file, which
 * finds it from cli/ (run with tsx), from dist/cli/ (built) and from an installed package alike.
 */
export function keyholdVersion(): string {
  for (let directory = path.dirname(fileURLToPath(import.meta.url)); ; directory = path.dirname(directory)) {
    const file = path.join(directory, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'keyhold' && typeof manifest.version === 'string') return manifest.version;
    }
    if (path.dirname(directory) === directory) return 'unknown';
  }
}
