import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../durable-file.js';

/** The seal's file name in the data directory, beside the store directory. */
export const SEAL_FILE = 'store.seal';

const MAGIC = Buffer.from('KHSEAL01', 'latin1');
/** Two slots, one disk sector each: a torn write can spoil only the slot being written. */
const SLOT_BYTES = 512;
const BODY_BYTES = MAGIC.length + 16 + 8; // magic, store id, commit number
const CHECK_BYTES = 16;

/** What a seal says: which store it belongs to and the last commit that was acknowledged. */
export interface SealState {
  /** 16 random bytes as 32 hex digits, also kept inside the store (meta `identity`). */
  storeId: string;
  /** The number of the newest acknowledged commit; 0 before the first. */
  commit: number;
}

/**
 * The store's seal: a small file outside LevelDB that names the store and the number of its
 * newest acknowledged commit. Every commit writes its number into the store in the same
 * batch as its data; the seal is advanced (and synced) before the commit is acknowledged.
 * So a store that opens with a lower number than its seal has lost acknowledged writes
 * (a damaged, truncated or deleted log, a store directory swapped for an older copy), and a
 * store whose identity differs from the seal's is not the store this directory held.
 *
 * Slots alternate, each with its own checksum, and reading takes the valid slot with the
 * higher number: a write torn by a power cut leaves the previous number readable.
 */
export class CommitSeal {
  private written: number;
  private writes = 0;
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    readonly storeId: string,
    commit: number,
  ) {
    this.written = commit;
  }

  /** Reads the seal in `dataDir`; undefined when there is none. Throws when no slot is valid. */
  static read(dataDir: string): SealState | undefined {
    const file = path.join(dataDir, SEAL_FILE);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const slots = [0, 1].map((slot) => decodeSlot(bytes.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES))).filter((state) => state !== undefined);
    if (slots.length === 0) throw new Error(`${file} is damaged (no valid slot)`);
    return slots.reduce((newest, state) => (state.commit > newest.commit ? state : newest));
  }

  /** Creates the seal of a new store (failing if one exists), durably, at commit 0. */
  static create(dataDir: string): SealState {
    const state = { storeId: randomBytes(16).toString('hex'), commit: 0 };
    const created = writeFileDurably(path.join(dataDir, SEAL_FILE), sealBytes(state), { exclusive: true });
    if (!created) throw new Error(`${path.join(dataDir, SEAL_FILE)} exists already`);
    return state;
  }

  /**
   * Replaces the seal with `state`, atomically and durably: for an operator who has checked
   * a store whose seal is gone or no longer fits it (`keyhold admin verify-store --reseal`).
   */
  static replace(dataDir: string, state: SealState): void {
    writeFileDurably(path.join(dataDir, SEAL_FILE), sealBytes(state));
  }

  /** Opens the seal for advancing: the store it names must be the one being opened. */
  static async open(dataDir: string, state: SealState): Promise<CommitSeal> {
    const file = path.join(dataDir, SEAL_FILE);
    return new CommitSeal(file, await open(file, 'r+'), state.storeId, state.commit);
  }

  /** The newest commit number the seal holds. */
  get commit(): number {
    return this.written;
  }

  /**
   * Makes the seal say `commit` (if it says less), synced to disk when the promise
   * resolves. Calls are applied in order; a call whose number is already covered is free.
   */
  advance(commit: number): Promise<void> {
    const next = this.chain.then(async () => {
      if (commit <= this.written) return;
      const slot = this.writes++ % 2;
      await this.handle.write(encodeSlot({ storeId: this.storeId, commit }), 0, SLOT_BYTES, slot * SLOT_BYTES);
      await this.handle.datasync();
      this.written = commit;
    });
    // One failed advance must not block the next: each caller sees its own outcome.
    this.chain = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.handle.close();
  }
}

function sealBytes(state: SealState): Buffer {
  return Buffer.concat([encodeSlot(state), encodeSlot(state)]);
}

function encodeSlot(state: SealState): Buffer {
  const slot = Buffer.alloc(SLOT_BYTES);
  MAGIC.copy(slot, 0);
  Buffer.from(state.storeId, 'hex').copy(slot, MAGIC.length);
  slot.writeBigUInt64BE(BigInt(state.commit), MAGIC.length + 16);
  checksum(slot.subarray(0, BODY_BYTES)).copy(slot, BODY_BYTES);
  return slot;
}

function decodeSlot(slot: Buffer): SealState | undefined {
  if (slot.length < BODY_BYTES + CHECK_BYTES) return undefined;
  if (!slot.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  if (!checksum(slot.subarray(0, BODY_BYTES)).equals(slot.subarray(BODY_BYTES, BODY_BYTES + CHECK_BYTES))) return undefined;
  return {
    storeId: slot.subarray(MAGIC.length, MAGIC.length + 16).toString('hex'),
    commit: Number(slot.readBigUInt64BE(MAGIC.length + 16)),
  };
}

function checksum(body: Buffer): Buffer {
  return createHash('sha256').update(body).digest().subarray(0, CHECK_BYTES);
}
