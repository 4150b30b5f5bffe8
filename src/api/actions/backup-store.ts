import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Principal } from '../../auth/principal.js';
import { BACKUP_FORMAT, BACKUP_VERSION, encodeHeader, encodeRecord, encodeTrailer } from '../../backup/format.js';
import type { SnapshotSource } from '../../backup/snapshots.js';
import { AccessDeniedException, ServiceUnavailableException } from '../../errors.js';
import type { HeaderPairs } from '../security-headers.js';

/** `POST /api/v1/kms/backupstore`: the one action that answers a stream, not a JSON object. */
export const BACKUP_ACTION = 'backupstore';

export const BACKUP_CONTENT_TYPE = 'application/x-ndjson';

export interface BackupStreamOptions {
  source: SnapshotSource | undefined;
  principal: Principal;
  requestId: string;
  security: HeaderPairs;
  clock: () => Date;
}

/**
 * Streams a backup of the whole store (src/backup/format.ts) as the answer: one snapshot,
 * read a page at a time, each page written only once the client has taken the last one
 * (backpressure), so memory stays flat whatever the store's size. Admin credentials only.
 * Errors before the first byte are ordinary error answers; after it, the connection is cut
 * and the client, missing the trailer, keeps nothing.
 */
export async function streamBackup(res: ServerResponse, options: BackupStreamOptions): Promise<void> {
  /* Precondition: only an admin credential may read every record of the store. */
  if (!options.principal.admin) throw new AccessDeniedException('BackupStore needs an admin credential');
  if (!options.source) throw new ServiceUnavailableException('Backups are not available on this server');
  const { snapshotId, rootKey } = await options.source.open();
  try {
    // The connection closes after the stream: its last pages may still be unsent when the client's
    // next request arrives, which node 20 can answer with a reset (src/api/json-answer.ts, holdWholeAnswer).
    res.writeHead(200, ['X-Request-Id', options.requestId, ...options.security.flat(), 'Content-Type', BACKUP_CONTENT_TYPE, 'Connection', 'close']);
    const hash = createHash('sha256');
    const send = async (text: string) => {
      if (res.destroyed) throw new Error('the client closed the backup stream');
      hash.update(text);
      if (!res.write(text)) await drained(res);
    };
    await send(encodeHeader({ format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt: options.clock().toISOString(), storeVersion: rootKey.storeVersion, rootKey }));
    let records = 0;
    for (let done = false; !done; ) {
      const page = await options.source.next(snapshotId);
      done = page.done;
      records += page.records.length;
      await send(page.records.map(encodeRecord).join(''));
    }
    res.end(encodeTrailer(records, hash.digest('hex')));
  } finally {
    await options.source.close(snapshotId).catch(() => {});
  }
}

/** Resolves when the response can take more; rejects when the client has gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed) {
      reject(new Error('the client closed the backup stream'));
      return;
    }
    const onDrain = () => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(new Error('the client closed the backup stream'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
