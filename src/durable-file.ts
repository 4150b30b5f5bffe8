import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file so that, once this returns, it is whole on disk and survives a power cut:
 * a new temp file beside it (random name, opened with O_EXCL so never an existing file or a
 * symlink, mode 0600 unless given), fsync, then rename over `file` — or, with `exclusive`,
 * link to `file` only if it does not exist yet — then fsync of the directory.
 *
 * Returns false when `exclusive` and `file` already existed (it is left untouched).
 *
 * @example
 *   writeFileDurably('data/admin.credentials', json);             // replace
 *   writeFileDurably('data/dev-passphrase', text, { exclusive: true }); // first writer wins
 */
export function writeFileDurably(file: string, data: string | Buffer, options: { mode?: number; exclusive?: boolean } = {}): boolean {
  const directory = path.dirname(file);
  const temporary = path.join(directory, `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
  const descriptor = openSync(temporary, 'wx', options.mode ?? 0o600);
  try {
    writeSync(descriptor, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  let written = true;
  try {
    if (options.exclusive) {
      try {
        linkSync(temporary, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        written = false;
      }
      unlinkSync(temporary);
    } else {
      renameSync(temporary, file);
    }
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      /* already gone */
    }
    throw error;
  }
  const directoryDescriptor = openSync(directory, 'r');
  try {
    fsyncSync(directoryDescriptor);
  } finally {
    closeSync(directoryDescriptor);
  }
  return written;
}

/** Syncs a directory, so that a file just created or renamed in it survives a power cut. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
