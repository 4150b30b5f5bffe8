import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Whether a process holds LevelDB's lock on `storeDirectory` (its LOCK file), found without
 * opening the store: opening would let LevelDB rewrite its files, which a read-only check
 * must not do. LevelDB locks with fcntl, which Linux lists in /proc/locks as
 * `<n>: POSIX ADVISORY WRITE <pid> <major>:<minor>:<inode> <start> <end>` (major and minor in hex).
 * Undefined where /proc/locks cannot be read (not Linux): the caller learns it when it opens.
 *
 * @example if (isStoreLockHeld(`${dataDir}/store`)) throw new StartupError('store in use', 'KEYHOLD_DATA_DIR');
 */
export function isStoreLockHeld(storeDirectory: string): boolean | undefined {
  let locks: string;
  let lockFile: { dev: number; ino: number };
  try {
    locks = readFileSync('/proc/locks', 'latin1');
    lockFile = statSync(path.join(storeDirectory, 'LOCK'));
  } catch {
    return undefined;
  }
  // The kernel's device number split as glibc's major() and minor() do.
  const major = ((lockFile.dev >>> 8) & 0xfff).toString(16).padStart(2, '0');
  const minor = ((lockFile.dev & 0xff) | ((lockFile.dev >>> 12) & 0xfff00)).toString(16).padStart(2, '0');
  const device = `${major}:${minor}:${lockFile.ino}`;
  return locks.split('\n').some((line) => line.split(/\s+/).includes(device));
}
