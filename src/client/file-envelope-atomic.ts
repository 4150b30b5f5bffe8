/**
 * Writes a file so that it appears whole or not at all: into a temporary file beside it
 * (mode 0600, created exclusively), flushed to disk, then renamed over the destination. A
 * failure removes the temporary file and leaves the destination as it was.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
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
export async function writeFileAtomically<T>(
  outPath: string,
  write: (output: Writable) => Promise<T>,
  options: { highWaterMark?: number } = {},
): Promise<T> {
  const target = resolve(outPath);
  // 50 characters are at most 200 UTF-8 bytes: the temporary name stays under the 255-byte limit.
  const tempName = `.${basename(target).slice(0, 50)}.${randomBytes(8).toString('hex')}.tmp`;
  const tempPath = join(dirname(target), tempName);
  // 'wx': never follow or reuse a file someone placed at the temporary name.
  const handle = await open(tempPath, 'wx', 0o600);
  // flush: the stream fsyncs before it closes, so the rename never publishes unwritten data.
  const output = createWriteStream('', { fd: handle, flush: true, ...options });
  try {
    const result = await write(output);
    await closed(output);
    await rename(tempPath, target);
    return result;
  } catch (error) {
    output.destroy();
    await closed(output);
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
}

/** Resolves once the stream has closed its file (and fsynced it, on success). */
function closed(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}
