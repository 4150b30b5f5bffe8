import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { syncDirectory } from '../../src/durable-file.js';
import { StartupError } from '../../src/errors.js';
import { withClient } from '../context.js';

interface BackupFlags {
  out: string;
}

interface RestoreFlags {
  in: string;
}

/**
 * `keyhold admin backup --out FILE`: streams a backup from a running server into a new 0600
 * temp file beside FILE, checking it on the way (src/backup/verifier.ts); only a whole,
 * unchanged backup is synced and renamed to FILE. Anything else leaves no FILE and exits 1.
 */
export async function backup(flags: BackupFlags, command: Command): Promise<void> {
  const { BackupVerifier } = await import('../../src/backup/verifier.js');
  const out = path.resolve(flags.out);
  const temporary = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(8).toString('hex')}.tmp`);
  await withClient(command, async (client) => {
    const stream = await client.backupStore();
    const file = await open(temporary, 'wx', 0o600);
    let bytes = 0;
    try {
      const verifier = new BackupVerifier();
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        verifier.push(chunk);
        await file.write(chunk);
        bytes += chunk.length;
      }
      const trailer = verifier.finish();
      await file.sync();
      await file.close();
      await rename(temporary, out);
      await syncDirectory(path.dirname(out));
      console.log(`backup: ${trailer.records} records, ${bytes} bytes, sha256 ${trailer.sha256} -> ${flags.out}`);
    } catch (error) {
      stream.destroy();
      await file.close().catch(() => {});
      await unlink(temporary).catch(() => {});
      throw error;
    }
  });
}

/**
 * `keyhold admin restore --in FILE`: offline, into an empty KEYHOLD_DATA_DIR, with the
 * master-key settings of the store that was backed up (src/backup/restore.ts).
 */
export async function restore(flags: RestoreFlags): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const { loadConfig } = await import('../../src/config.js');
  const config = loadConfig();
  /* Precondition: the passphrase is given: a generated development one would be written into the data directory, and could not open the backup anyway. */
  if (config.master === 'passphrase' && !config.passphrase) {
    throw new StartupError('a restore needs the passphrase of the store that was backed up (KEYHOLD_PASSPHRASE or KEYHOLD_PASSPHRASE_FILE)', 'KEYHOLD_PASSPHRASE');
  }
  const { restoreBackup } = await import('../../src/backup/restore.js');
  const { createMasterKeyProvider } = await import('../../src/providers/master-keys/index.js');
  const provider = createMasterKeyProvider(config, (message) => process.stderr.write(`keyhold: ${message}\n`));
  try {
    const result = await restoreBackup({ file: flags.in, dataDir: config.dataDir, provider, storeUrl: config.storeUrl });
    const into = config.storeUrl === undefined ? config.dataDir : (await import('../../src/store/postgres/postgres-store.js')).redactedUrl(config.storeUrl);
    console.log(`restored ${result.records} records (backup of ${result.createdAt}) into ${into}`);
  } finally {
    await provider.close();
  }
}
