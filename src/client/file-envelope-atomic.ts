/**
 * Writes a file so that it appears whole or not at all: into a temporary file beside it
 * (mode 0600, created exclusively), flushed to disk, then renamed over the destination. A
 * failure removes the temporary file and leaves the destination as it was.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';

/**
 * Calls `write` with a stream to a temporary file in `outPath`'s directory (the same file
 * system, so the rename is atomic); when `write` resolves, syncs and renames the file to
 * `outPath`, replacing what was there.
 *
 * @example
 *   await writeFileAtomically('out.bin', (output) => pipeline(source, output));
 */
export async function writeFileAtomically<T>(outPath: string, write: (output: Writable) => Promise<T>): Promise<T> {
  const target = resolve(outPath);
  const tempPath = join(dirname(target), `.${basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
  // 'wx': never follow or reuse a file someone placed at the temporary name.
  const handle = await open(tempPath, 'wx', 0o600);
  try {
    // autoClose off: the handle outlives the stream so that it can be synced before the rename.
    const output = handle.createWriteStream({ autoClose: false });
    const result = await write(output);
    await handle.sync();
    await handle.close();
    await rename(tempPath, target);
    return result;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
}
