/**
 * Reading LevelDB table structures (doc/table_format.md): varints, block handles and the
 * prefix-compressed entries of a block. Every read is bounds-checked and throws
 * TableFormatError, which the table check reports as a damaged block.
 */

export class TableFormatError extends Error {}

/** Where a block is in the table file: its contents, without the 5-byte trailer. */
export interface BlockHandle {
  offset: number;
  size: number;
}

/**
 * Reads a varint of up to `maxBytes` bytes at `offset`: [value, next offset]. Values above
 * 2^53 cannot be a position in a file we read whole, so they are rejected too.
 */
export function readVarint(bytes: Uint8Array, offset: number, limit: number, maxBytes: number): [number, number] {
  let value = 0;
  for (let index = 0; index < maxBytes; index++) {
    if (offset >= limit) throw new TableFormatError('varint runs past its block');
    const byte = bytes[offset++]!;
    value += (byte & 0x7f) * 2 ** (7 * index);
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value)) throw new TableFormatError('varint too large');
      return [value, offset];
    }
  }
  throw new TableFormatError('varint too long');
}

/** A BlockHandle: offset and size as two varint64s. */
export function readBlockHandle(bytes: Uint8Array, offset: number, limit: number): [BlockHandle, number] {
  const [blockOffset, afterOffset] = readVarint(bytes, offset, limit, 10);
  const [size, next] = readVarint(bytes, afterOffset, limit, 10);
  return [{ offset: blockOffset, size }, next];
}

/**
 * The values of a block's entries, in order. An entry is shared (varint32), unshared
 * (varint32), value length (varint32), the unshared key bytes, the value; the block ends in
 * the restart offsets (u32 each) and their count (u32). Keys are only checked, not kept:
 * the verifier needs the values (block handles) of index and metaindex blocks.
 */
export function* blockValues(block: Buffer): Generator<{ key: Buffer; value: Buffer }> {
  /* Precondition: a block holds at least its restart count. */
  if (block.length < 4) throw new TableFormatError('block shorter than its restart count');
  const restarts = block.readUInt32LE(block.length - 4);
  const entriesEnd = block.length - 4 - restarts * 4;
  if (restarts === 0 || entriesEnd < 0) throw new TableFormatError('bad restart count');
  let previousKey = Buffer.alloc(0);
  for (let offset = 0; offset < entriesEnd; ) {
    const [shared, afterShared] = readVarint(block, offset, entriesEnd, 5);
    const [unshared, afterUnshared] = readVarint(block, afterShared, entriesEnd, 5);
    const [valueLength, keyStart] = readVarint(block, afterUnshared, entriesEnd, 5);
    const valueStart = keyStart + unshared;
    const end = valueStart + valueLength;
    if (shared > previousKey.length || end > entriesEnd) throw new TableFormatError('entry runs past its block');
    const key = Buffer.concat([previousKey.subarray(0, shared), block.subarray(keyStart, valueStart)]);
    yield { key, value: block.subarray(valueStart, end) };
    previousKey = key;
    offset = end;
  }
}
