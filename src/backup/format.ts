/**
 * The Keyhold backup file, defined once for the server that writes it and the command line
 * that checks and restores it. Lines of JSON, each ending in `\n`:
 *
 *   {"format":"keyhold-backup","version":1,"createdAt":…,"storeVersion":1,"rootKey":{…}}
 *   {"sublevel":"keys","key":"<KeyId>","value":"<base64 of the stored bytes>"}
 *   …
 *   {"trailer":true,"records":<count>,"sha256":"<hex of every byte before this line>"}
 *
 * Values are the bytes as stored: key material only ever wrapped by the root key, which is
 * itself only in the header, wrapped by the master key. It loads nothing of the server (the
 * list of sublevels comes from a module without runtime imports).
 */
import { isStandardBase64 } from '../protocol/base64.js';
import type { RootKeyRecord } from '../store/records.js';
import { SUBLEVEL_NAMES, type SublevelName } from '../store/store-scan.js';

export const BACKUP_FORMAT = 'keyhold-backup';
export const BACKUP_VERSION = 1;

/** The sublevels of the store: a backup names no other. */
export const BACKUP_SUBLEVELS = SUBLEVEL_NAMES;
export type BackupSublevel = SublevelName;

/** No line of a backup is longer: a damaged file cannot make a reader hold more. */
export const MAX_LINE_BYTES = 1024 * 1024;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  createdAt: string;
  storeVersion: number;
  /** The store's root-key record: wrapped root key, KDF or token parameters, key-check value. */
  rootKey: RootKeyRecord;
}

/** One stored entry: its sublevel, its key there, and the bytes stored. */
export interface BackupRecord {
  sublevel: BackupSublevel;
  key: string;
  value: Buffer;
}

export interface BackupTrailer {
  trailer: true;
  records: number;
  sha256: string;
}

/** A backup that is not whole, not ours, or was changed. The message names no secret. */
export class BackupFormatError extends Error {
  readonly code = 'ERR_KEYHOLD_BACKUP_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'BackupFormatError';
  }
}

export function isBackupSublevel(name: string): name is BackupSublevel {
  return (BACKUP_SUBLEVELS as readonly string[]).includes(name);
}

export function encodeHeader(header: BackupHeader): string {
  return JSON.stringify(header) + '\n';
}

export function encodeRecord(record: BackupRecord): string {
  return JSON.stringify({ sublevel: record.sublevel, key: record.key, value: record.value.toString('base64') }) + '\n';
}

export function encodeTrailer(records: number, sha256: string): string {
  return JSON.stringify({ trailer: true, records, sha256 } satisfies BackupTrailer) + '\n';
}


function parseObject(line: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new BackupFormatError(`the ${what} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BackupFormatError(`the ${what} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

export function parseHeader(line: string): BackupHeader {
  const header = parseObject(line, 'first line');
  /* Precondition: the file says it is a Keyhold backup of a version this Keyhold reads. */
  if (header.format !== BACKUP_FORMAT) throw new BackupFormatError('this is not a Keyhold backup (no keyhold-backup header)');
  if (header.version !== BACKUP_VERSION) throw new BackupFormatError(`backup format version ${String(header.version).slice(0, 16)} is not supported`);
  const rootKey = header.rootKey as Record<string, unknown> | undefined;
  if (typeof rootKey !== 'object' || rootKey === null || typeof rootKey.wrappedRootKey !== 'string' || typeof rootKey.keyCheckValue !== 'string') {
    throw new BackupFormatError('the backup header holds no root-key record');
  }
  return header as unknown as BackupHeader;
}

/** A record line, or the trailer (the caller knows which line is last). */
export function parseRecord(line: string): BackupRecord {
  const record = parseObject(line, 'record line');
  const { sublevel, key, value } = record;
  if (typeof sublevel !== 'string' || !isBackupSublevel(sublevel)) throw new BackupFormatError('a record names an unknown sublevel');
  if (typeof key !== 'string' || key.length === 0) throw new BackupFormatError('a record has no key');
  if (typeof value !== 'string' || !isStandardBase64(value)) throw new BackupFormatError('a record value is not base64');
  return { sublevel, key, value: Buffer.from(value, 'base64') };
}

export function parseTrailer(line: string): BackupTrailer {
  const trailer = parseObject(line, 'last line');
  if (trailer.trailer !== true || !Number.isSafeInteger(trailer.records) || typeof trailer.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(trailer.sha256)) {
    throw new BackupFormatError('the backup ends without its trailer: it is incomplete');
  }
  return trailer as unknown as BackupTrailer;
}
