/**
 * A minimal Snappy decompressor (the raw block format LevelDB compresses table blocks with:
 * github.com/google/snappy format_description.txt). No Snappy package is in node_modules, and
 * the verifier only needs to read index and metaindex blocks, so this is the small, checked
 * subset: every length and offset is bounds-checked before it is used.
 */

/** Thrown for any malformed input; the verifier reports it as a damaged block. */
export class SnappyFormatError extends Error {}

const LITERAL = 0;
const COPY_1_BYTE_OFFSET = 1;
const COPY_2_BYTE_OFFSET = 2;

/** Reads a varint32 at `offset`: [value, next offset]. */
function readVarint32(input: Uint8Array, offset: number): [number, number] {
  let value = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (offset >= input.length) throw new SnappyFormatError('truncated length');
    const byte = input[offset++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, offset];
  }
  throw new SnappyFormatError('length varint too long');
}

/** Little-endian unsigned integer of `size` (1-4) bytes at `offset`. */
function readLittleEndian(input: Uint8Array, offset: number, size: number): number {
  if (offset + size > input.length) throw new SnappyFormatError('truncated element');
  let value = 0;
  for (let index = size - 1; index >= 0; index--) value = value * 256 + input[offset + index]!;
  return value;
}

/**
 * Decompresses one Snappy block. `maxLength` bounds the declared size, so a damaged
 * length cannot make us allocate gigabytes.
 * @example snappyDecompress(Buffer.from([3, 8, 0x61, 0x62, 0x63])) // 'abc'
 */
export function snappyDecompress(input: Uint8Array, maxLength: number): Buffer {
  const [length, start] = readVarint32(input, 0);
  /* Precondition: the declared length is within what a block may hold. */
  if (length > maxLength) throw new SnappyFormatError('declared length too large');
  const output = Buffer.alloc(length);
  let written = 0;
  let offset = start;
  while (offset < input.length) {
    const tag = input[offset++]!;
    const kind = tag & 3;
    if (kind === LITERAL) {
      let size = (tag >>> 2) + 1;
      if (size > 60) {
        const extra = size - 60; // 1-4 bytes of length follow
        size = readLittleEndian(input, offset, extra) + 1;
        offset += extra;
      }
      if (offset + size > input.length || written + size > length) throw new SnappyFormatError('literal out of bounds');
      output.set(input.subarray(offset, offset + size), written);
      offset += size;
      written += size;
      continue;
    }
    let size: number;
    let distance: number;
    if (kind === COPY_1_BYTE_OFFSET) {
      size = ((tag >>> 2) & 7) + 4;
      distance = ((tag >>> 5) << 8) | readLittleEndian(input, offset, 1);
      offset += 1;
    } else {
      const bytes = kind === COPY_2_BYTE_OFFSET ? 2 : 4;
      size = (tag >>> 2) + 1;
      distance = readLittleEndian(input, offset, bytes);
      offset += bytes;
    }
    /* Precondition: a copy reads only bytes already written and writes within the block. */
    if (distance === 0 || distance > written || written + size > length) throw new SnappyFormatError('copy out of bounds');
    // Byte by byte: a copy may overlap its own output (a run), which copyWithin would not repeat.
    for (let index = 0; index < size; index++, written++) output[written] = output[written - distance]!;
  }
  /* Postcondition: the elements produced exactly the declared length. */
  if (written !== length) throw new SnappyFormatError('length mismatch');
  return output;
}
