import { createReadStream, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory, writeFileDurably } from '../durable-file.js';
import { StartupError } from '../errors.js';
import { unwrapRootKeyRecord } from '../kms/root-key.js';
import type { MasterKeyProvider } from '../providers/master-keys/master-key.js';
import { LevelDbStore } from '../store/leveldb-store.js';
import { type Store, type StoreBatch } from '../store/store.js';
import type { BackupHeader, BackupRecord, BackupTrailer } from './format.js';
import { BackupFormatError } from './format.js';
import { RESTORE_MARKER } from './restore-marker.js';
import { BackupVerifier } from './verifier.js';

/** A restore writes at most this many records, or about this many bytes, per synced batch. */
export const RESTORE_BATCH_RECORDS = 2000;
export const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;
/** Read size of the backup file: memory is this, one batch, and one line at most. */
const READ_CHUNK_BYTES = 256 * 1024;

export interface RestoreOptions {
  /** The backup file. */
  file: string;
  /** KEYHOLD_DATA_DIR: absent or empty. */
  dataDir: string;
  /** The master key that wrapped the backed-up store's root key. */
  provider: MasterKeyProvider;
  /** KEYHOLD_STORE_URL: restore into this PostgreSQL database (empty) instead of LevelDB in dataDir. */
  storeUrl?: string;
}

export interface RestoreResult {
  records: number;
  createdAt: string;
}

/**
 * Restores a backup into an empty data directory, offline. Before anything is written: the
 * directory is checked empty, the whole file is read once for its format, record count and
 * checksum, and the master key must open the root key in its header (key-check value). Only
 * then is the data directory made, with the `restore-in-progress` marker first, and the
 * records written in bounded synced batches while the file is checked a second time; the
 * marker goes last. A restore that stops half-way leaves the marker, and no server starts.
 *
 * @example
 *   await restoreBackup({ file: 'keyhold.backup', dataDir: '/var/lib/keyhold', provider });
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  if (options.storeUrl !== undefined) return restoreIntoDatabase(options as RestoreOptions & { storeUrl: string });
  refuseNonEmpty(options.dataDir);
  const checked = await readBackup(options.file, () => undefined);
  const rootKey = await unwrapRootKeyRecord(checked.header.rootKey, options.provider);
  rootKey.fill(0);
  // Checked again just before the first write: nothing may have appeared meanwhile.
  refuseNonEmpty(options.dataDir);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const marker = path.join(options.dataDir, RESTORE_MARKER);
  writeFileDurably(marker, `restore of ${path.resolve(options.file)} started ${new Date().toISOString()}\n`, { exclusive: true });
  const store = await LevelDbStore.open(options.dataDir);
  try {
    const written = await writeRecords(store, options.file);
    /* Postcondition: the bytes written are the bytes checked before (the file did not change). */
    if (written.trailer.sha256 !== checked.trailer.sha256) throw new BackupFormatError('the backup file changed during the restore');
  } catch (error) {
    await store.close();
    throw new StartupError(`the restore stopped half-way (${(error as Error).message}); ${marker} stays: remove ${options.dataDir} and restore again`, 'KEYHOLD_DATA_DIR');
  }
  await store.close();
  await unlink(marker);
  await syncDirectory(options.dataDir);
  return { records: checked.trailer.records, createdAt: checked.header.createdAt };
}

/* Precondition: a restore never mixes a backup with what a data directory already holds. */
function refuseNonEmpty(dataDir: string): void {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new StartupError(`${dataDir} is not empty: restore only into an empty or new data directory`, 'KEYHOLD_DATA_DIR');
  }
}

/** Reads and checks a whole backup, handing each chunk's records over; throws unless it is whole and unchanged. */
export async function readBackup(
  file: string,
  onRecords: (records: BackupRecord[]) => Promise<void> | void,
): Promise<{ header: BackupHeader; trailer: BackupTrailer }> {
  const verifier = new BackupVerifier();
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    const records = verifier.push(chunk);
    if (records.length > 0) await onRecords(records);
  }
  const trailer = verifier.finish();
  return { header: verifier.header!, trailer };
}

/**
 * A restore into a PostgreSQL database (how a single LevelDB machine moves to several nodes):
 * the same checks of the whole file and the master key first, then only into a database that
 * holds no Keyhold records. Its marker is a record (`restore-in-progress`), written first and
 * removed last: no node starts on a database a restore left half-way.
 */
async function restoreIntoDatabase(options: RestoreOptions & { storeUrl: string }): Promise<RestoreResult> {
  const checked = await readBackup(options.file, () => undefined);
  const rootKey = await unwrapRootKeyRecord(checked.header.rootKey, options.provider);
  rootKey.fill(0);
  const { PostgresStore, RESTORE_MARKER_KEY } = await import('../store/postgres/postgres-store.js');
  const store = await PostgresStore.open({ url: options.storeUrl, dataDir: options.dataDir, restoring: true });
  try {
    if ((await store.getRootKeyRecord()) || (await store.listKeys(undefined, 1)).length > 0 || (await store.listCredentials()).length > 0 || (await store.hasRestoreMarker())) {
      throw new StartupError(`the database at ${store.location} already holds a Keyhold store: restore only into an empty database`, 'KEYHOLD_STORE_URL');
    }
    await store.write(store.batch().putRaw('meta', RESTORE_MARKER_KEY, Buffer.from(`restore of ${path.basename(options.file)} started ${new Date().toISOString()}`)));
    try {
      const written = await writeRecords(store, options.file);
      if (written.trailer.sha256 !== checked.trailer.sha256) throw new BackupFormatError('the backup file changed during the restore');
    } catch (error) {
      throw new StartupError(`the restore stopped half-way (${(error as Error).message}); the database is marked as such: empty it (drop and create it) and restore again`, 'KEYHOLD_STORE_URL');
    }
    await store.write(store.batch().deleteRaw('meta', RESTORE_MARKER_KEY));
  } finally {
    await store.close();
  }
  return { records: checked.trailer.records, createdAt: checked.header.createdAt };
}

async function writeRecords(store: Store, file: string): Promise<{ trailer: BackupTrailer }> {
  let batch: StoreBatch = store.batch();
  let records = 0;
  let bytes = 0;
  const result = await readBackup(file, async (chunkRecords) => {
    for (const record of chunkRecords) {
      batch.putRaw(record.sublevel, record.key, record.value);
      records++;
      bytes += record.key.length + record.value.length;
      if (records >= RESTORE_BATCH_RECORDS || bytes >= RESTORE_BATCH_BYTES) {
        await store.write(batch);
        batch = store.batch();
        records = 0;
        bytes = 0;
      }
    }
  });
  await store.write(batch);
  return result;
}
