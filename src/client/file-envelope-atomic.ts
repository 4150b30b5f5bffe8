/**
 * Writes a file so that it appears whole or not at all: into a temporary file beside it
 * (mode 0600, created exclusively), flushed to disk, then renamed over the destination. A
 * failure removes the temporary file and leaves the destination as it was.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * Calls `write` with the open temporary file in `outPath`'s directory (the same file system,
 * so the rename is atomic); when `write` resolves, syncs and renames the file to `outPath`,
 * replacing what was there.
 *
 * @example
 *   await writeFileAtomically('out.bin', (output) => output.writeFile(bytes));
 */
export async function writeFileAtomically<T>(outPath: string, write: (output: FileHandle) => Promise<T>): Promise<T> {
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
    await rename(tempPath, target);
    return result;
  } catch (error) {
    // close() waits for writes still in flight, so nothing lands after the unlink.
    await output.close().catch(() => undefined);
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
}
