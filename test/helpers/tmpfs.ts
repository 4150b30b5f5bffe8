import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './temp-dir.js';

export interface Tmpfs {
  path: string;
  /** Fills the file system up to the last byte with a filler file; returns its path. */
  fill(): string;
  /** Removes the filler: the space is free again. */
  free(): void;
  unmount(): void;
}

/**
 * A small tmpfs of its own, to run out of space on purpose. Needs root (CI runs as root):
 * elsewhere the caller skips with the reason this returns; under CI=true it never skips.
 */
export function mountTmpfs(sizeMiB: number): Tmpfs | string {
  const dir = makeTempDir('keyhold-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir.path], { stdio: 'pipe' });
  } catch (error) {
    dir.remove();
    const reason = `cannot mount a tmpfs (root is needed): ${String((error as Error).message).split('\n')[0]}`;
    if (process.env.CI === 'true') throw new Error(reason);
    return reason;
  }
  const filler = path.join(dir.path, 'filler');
  return {
    path: dir.path,
    fill() {
      const descriptor = openSync(filler, 'a');
      try {
        // Large writes first, then small ones, until not one more byte fits.
        for (const size of [1 << 20, 1 << 12, 1]) {
          const chunk = Buffer.alloc(size, 0x5a);
          for (let written = 0; written < 1 << 16; written++) {
            try {
              writeSync(descriptor, chunk);
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
              break;
            }
          }
        }
      } finally {
        closeSync(descriptor);
      }
      return filler;
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir.path], { stdio: 'pipe' });
      } finally {
        dir.remove();
      }
    },
  };
}
