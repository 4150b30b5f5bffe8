/**
 * Reads a byte stream in pieces of a requested size without copying: a piece is a list of
 * views into the buffers the stream produced. Both directions of the file envelope cut their
 * input this way, into header fields and chunks.
 */

export class ByteReader {
  readonly #source: AsyncIterator<unknown>;
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  #ended = false;

  constructor(source: AsyncIterable<unknown>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /**
   * Up to `length` bytes as views into the input, in order. Fewer only when the input ended,
   * so a short answer also says that nothing follows it.
   */
  async read(length: number): Promise<{ pieces: Buffer[]; byteLength: number }> {
    while (this.#pendingBytes < length && !this.#ended) await this.#pull();
    const pieces: Buffer[] = [];
    let byteLength = 0;
    while (byteLength < length && this.#pending.length > 0) {
      const head = this.#pending[0]!;
      const wanted = length - byteLength;
      if (head.length <= wanted) {
        pieces.push(head);
        this.#pending.shift();
        byteLength += head.length;
      } else {
        pieces.push(head.subarray(0, wanted));
        this.#pending[0] = head.subarray(wanted);
        byteLength += wanted;
      }
    }
    this.#pendingBytes -= byteLength;
    return { pieces, byteLength };
  }

  /** Up to `length` bytes in one buffer (copied when they span pieces): for small fields only. */
  async readBuffer(length: number): Promise<Buffer> {
    const { pieces, byteLength } = await this.read(length);
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, byteLength);
  }

  async #pull(): Promise<void> {
    const next = await this.#source.next();
    if (next.done) {
      this.#ended = true;
      return;
    }
    /* Precondition: the input is a byte stream. */
    // A stream with an encoding set yields strings, whose bytes are not the file's bytes.
    if (!(next.value instanceof Uint8Array)) {
      throw new TypeError('The input must be a byte stream (no encoding set)');
    }
    const bytes = Buffer.isBuffer(next.value)
      ? next.value
      : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    if (bytes.length === 0) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
  }
}
