/**
 * Writes a file so that it appears whole or not at all: into a temporary file beside it
 * (mode 0600, created exclusively), flushed to disk, then renamed over the destination. A
 * failure removes the temporary file and leaves the destination as it was. The destination
 * must be absent or a regular file: a rename replaces whatever name it lands on.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, type Stats } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FileEnvelopeError } from './file-envelope-error.js';

/**
 * What `path` is when it exists and is not a regular file ('a symbolic link', 'a directory',
 * …); undefined when it is a regular file or does not exist. lstat: a symlink is reported as
 * one, whatever it points to.
 *
 * @example
 *   nonRegularFileKind('/dev/stdout') // 'a symbolic link'
 */
export function nonRegularFileKind(path: string): string | undefined {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (stats.isFile()) return undefined;
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isFIFO()) return 'a named pipe';
  return 'a socket';
}

/**
 * Refuses an output path that exists and is not a regular file. Renaming over it would put a
 * file of plaintext in place of a symlink (`/dev/stdout`, run as root, became one), a device
 * or a named pipe, instead of writing through it.
 *
 * @example
 *   checkOutputPath('backup.tar'); // throws ERR_KEYHOLD_FILE_OUTPUT for a symlink, device, fifo or directory
 */
export function checkOutputPath(outPath: string): void {
  const kind = nonRegularFileKind(outPath);
  /* Precondition: the output path is absent or a regular file. */
  if (kind !== undefined) {
    throw new FileEnvelopeError('ERR_KEYHOLD_FILE_OUTPUT', `${outPath} exists and is ${kind}, not a regular file: refusing to replace it`);
  }
}

/**
 * Calls `write` with the open temporary file in `outPath`'s directory (the same file system,
 * so the rename is atomic); when `write` resolves, syncs and renames the file to `outPath`,
 * replacing what was there.
 *
 * @example
 *   await writeFileAtomically('out.bin', (output) => output.writeFile(bytes));
 */
export async function writeFileAtomically<T>(outPath: string, write: (output: FileHandle) => Promise<T>): Promise<T> {
  checkOutputPath(outPath);
  const target = resolve(outPath);
  // 50 characters are at most 200 UTF-8 bytes: the temporary name stays under the 255-byte limit.
  const tempName = `.${basename(target).slice(0, 50)}.${randomBytes(8).toString('hex')}.tmp`;
  const tempPath = join(dirname(target), tempName);
  // 'wx': never follow or reuse a file someone placed at the temporary name.
  const output = await open(tempPath, 'wx', 0o600);
  try {
    const result = await write(output);
    // Synced before the rename, so the rename never publishes unwritten data.
    await output.sync();
    await output.close();
    // Again just before the rename: the output path may have been replaced while we wrote.
    checkOutputPath(target);
    await rename(tempPath, target);
    return result;
  } catch (error) {
    // close() waits for writes still in flight, so nothing lands after the unlink.
    await output.close().catch(() => undefined);
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
}
