import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { expect } from 'chai';
import fc from 'fast-check';
import { rejectionOf } from '../helpers/rejection.js';
import {
  DEFAULT_CHUNK_SIZE,
  FileEnvelopeError,
  decryptFile,
  decryptFileAtPath,
  encryptFile,
  encryptFileAtPath,
  type DecryptFileOptions,
  type EncryptFileOptions,
} from '../../src/client/file-envelope.js';

type Context = Readonly<Record<string, string>>;

const TAG = 16;
const SMALL_CHUNK = 1024;
const MiB = 1024 * 1024;
const FORMAT = 'ERR_KEYHOLD_FILE_FORMAT';
const TAMPERED = 'ERR_KEYHOLD_FILE_TAMPERED';

/**
 * A stand-in for the server's GenerateDataKey and Decrypt: the data key is wrapped with
 * AES-256-GCM under a wrapping key, the context bound in as AAD, as the KMS does.
 */
function fakeKms(options: { ignoreContext?: boolean } = {}) {
  const wrappingKey = randomBytes(32);
  const calls = { generateDataKey: 0, decrypt: 0, contexts: [] as Context[] };
  const aad = (context: Context) =>
    Buffer.from(options.ignoreContext ? '' : JSON.stringify(Object.entries(context).sort()), 'utf8');
  const wrap = (dataKey: Buffer, context: Context) => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', wrappingKey, iv).setAAD(aad(context));
    return Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
  };
  const issued: Buffer[] = [];
  const generateDataKey = async (context: Context) => {
    calls.generateDataKey++;
    calls.contexts.push(context);
    const plaintext = randomBytes(32);
    const ciphertextBlob = wrap(plaintext, context);
    issued.push(plaintext);
    return { plaintext, ciphertextBlob, keyId: 'key-1' };
  };
  const returned: Buffer[] = [];
  const decrypt = async (ciphertextBlob: Buffer, context: Context) => {
    calls.decrypt++;
    calls.contexts.push(context);
    try {
      const decipher = createDecipheriv('aes-256-gcm', wrappingKey, ciphertextBlob.subarray(0, 12));
      decipher.setAAD(aad(context)).setAuthTag(ciphertextBlob.subarray(-16));
      const key = Buffer.concat([decipher.update(ciphertextBlob.subarray(12, -16)), decipher.final()]);
      returned.push(key);
      return key;
    } catch {
      throw new Error('InvalidCiphertextException: the KMS cannot decrypt this data key');
    }
  };
  return { generateDataKey, decrypt, wrap, calls, issued, returned };
}

const kms = fakeKms();

function collector(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  return { sink, bytes: () => Buffer.concat(parts) };
}

async function encryptBytes(
  plaintext: Buffer,
  options: Partial<EncryptFileOptions> = {},
): Promise<Buffer> {
  const { sink, bytes } = collector();
  await encryptFile(Readable.from(split(plaintext, 700)), sink, { generateDataKey: kms.generateDataKey, ...options });
  return bytes();
}

async function decryptBytes(file: Buffer, options: Partial<DecryptFileOptions> = {}): Promise<Buffer> {
  const { sink, bytes } = collector();
  await decryptFile(Readable.from(split(file, 999)), sink, { decrypt: kms.decrypt, ...options });
  return bytes();
}

/** Cuts `bytes` into pieces of `size`, so that stream reads never line up with chunks. */
function split(bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) pieces.push(bytes.subarray(offset, offset + size));
  return pieces;
}

/** The header length of a file, read from its two length fields. */
function headerLength(file: Buffer): number {
  const contextLength = file.readUInt16BE(9);
  const keyLength = file.readUInt16BE(11 + contextLength);
  return 13 + contextLength + keyLength + 32;
}

function flipBit(file: Buffer, offset: number, bit = 0): Buffer {
  const copy = Buffer.from(file);
  copy[offset]! ^= 1 << bit;
  return copy;
}


describe('file envelope (src/client/file-envelope.ts)', () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'keyhold-file-envelope-'));
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  /** Decrypts `file` from a path; expects a FileEnvelopeError with `code`, no OUT and no temporary file. */
  async function expectRefusedAtPath(file: Buffer, code: string, options: Partial<DecryptFileOptions> = {}) {
    const inPath = join(directory, 'in.khf');
    const outPath = join(directory, 'out');
    writeFileSync(inPath, file);
    const error = await rejectionOf(decryptFileAtPath(inPath, outPath, { decrypt: kms.decrypt, ...options }), Error);
    expect(error, String(error)).to.be.instanceOf(FileEnvelopeError);
    expect((error as FileEnvelopeError).code).to.equal(code);
    expect(existsSync(outPath)).to.equal(false);
    expect(readdirSync(directory)).to.deep.equal(['in.khf']);
    return error as FileEnvelopeError;
  }

  describe('round trip', () => {
    const cases: Array<[string, number, number | undefined]> = [
      ['0 bytes', 0, undefined],
      ['1 byte', 1, undefined],
      ['exactly one chunk', DEFAULT_CHUNK_SIZE, undefined],
      ['one chunk and one byte', DEFAULT_CHUNK_SIZE + 1, undefined],
      ['several chunks of 1 KiB and a short last one', 5 * SMALL_CHUNK + 17, SMALL_CHUNK],
      ['several full chunks of 1 KiB', 4 * SMALL_CHUNK, SMALL_CHUNK],
    ];
    for (const [name, size, chunkSize] of cases) {
      it(`round-trips ${name}`, async () => {
        const plaintext = randomBytes(size);
        const { sink, bytes } = collector();
        const result = await encryptFile(Readable.from(split(plaintext, 4096)), sink, {
          generateDataKey: kms.generateDataKey,
          ...(chunkSize === undefined ? {} : { chunkSize }),
        });
        const file = bytes();
        const chunks = Math.floor(size / (chunkSize ?? DEFAULT_CHUNK_SIZE)) + 1;
        expect(file.length).to.equal(headerLength(file) + size + TAG * chunks);
        expect(result).to.deep.equal({ bytesIn: size, bytesOut: file.length, keyId: 'key-1' });
        expect((await decryptBytes(file)).equals(plaintext)).to.equal(true);
      });
    }

    it('round-trips the encryption context through the header', async () => {
      const context = { tenant: 'acme', 'ключ': 'значение', 10: 'integer-like key', a: '"quoted"\n' };
      const file = await encryptBytes(Buffer.from('hello'), { encryptionContext: context });
      const { sink } = collector();
      const result = await decryptFile(Readable.from([file]), sink, { decrypt: kms.decrypt });
      expect(result.encryptionContext).to.deep.equal(context);
      expect(Object.isFrozen(result.encryptionContext)).to.equal(true);
      expect(kms.calls.contexts.at(-1)).to.deep.equal(context);
    });

    it('returns the key id when decrypt answers { plaintext, keyId } as KeyholdClient.decrypt does', async () => {
      const file = await encryptBytes(Buffer.from('hello'));
      const { sink } = collector();
      const result = await decryptFile(Readable.from([file]), sink, {
        decrypt: async (blob, context) => ({ plaintext: await kms.decrypt(blob, context), keyId: 'key-1' }),
      });
      expect(result).to.deep.equal({ bytesOut: 5, keyId: 'key-1', encryptionContext: {} });
    });

    it('calls generateDataKey once per file and zeroes the data key', async () => {
      const before = kms.calls.generateDataKey;
      await encryptBytes(randomBytes(3 * SMALL_CHUNK), { chunkSize: SMALL_CHUNK });
      expect(kms.calls.generateDataKey).to.equal(before + 1);
      expect(kms.issued.at(-1)!.equals(Buffer.alloc(32))).to.equal(true);
    });

    it('zeroes the data key that decrypt returned', async () => {
      const file = await encryptBytes(Buffer.from('hello'));
      await decryptBytes(file);
      expect(kms.returned.at(-1)!.equals(Buffer.alloc(32))).to.equal(true);
    });

    it('uses a new data key and salt for every file', async () => {
      const plaintext = Buffer.from('same plaintext');
      const [first, second] = [await encryptBytes(plaintext), await encryptBytes(plaintext)];
      expect(first.equals(second)).to.equal(false);
      expect(first.subarray(-32 - plaintext.length - TAG, -plaintext.length - TAG).equals(
        second.subarray(-32 - plaintext.length - TAG, -plaintext.length - TAG),
      )).to.equal(false);
    });

    it('decrypts a file built from the documented format by independent code', async () => {
      const context = { purpose: 'vector', 2: 'b', 10: 'a' };
      const plaintext = randomBytes(2 * SMALL_CHUNK + 5);
      const file = buildFileFromSpec({ plaintext, context, contextJson: '{"10":"a","2":"b","purpose":"vector"}' });
      const result = collector();
      const answer = await decryptFile(Readable.from([file]), result.sink, { decrypt: kms.decrypt });
      expect(result.bytes().equals(plaintext)).to.equal(true);
      expect(answer.encryptionContext).to.deep.equal(context);
    });

    it('refuses a short last chunk sealed without the final flag', async () => {
      const file = buildFileFromSpec({ plaintext: randomBytes(SMALL_CHUNK + 5), finalFlag: () => 0 });
      const error = await rejectionOf(decryptBytes(file), Error);
      expect((error as FileEnvelopeError).code).to.equal(TAMPERED);
    });

    it('refuses a full last chunk sealed with the final flag (no empty final chunk)', async () => {
      const plaintext = randomBytes(2 * SMALL_CHUNK);
      const pieces = [plaintext.subarray(0, SMALL_CHUNK), plaintext.subarray(SMALL_CHUNK)];
      const file = buildFileFromSpec({ plaintext, pieces, finalFlag: (index, count) => (index === count - 1 ? 1 : 0) });
      const error = await rejectionOf(decryptBytes(file), Error);
      expect((error as FileEnvelopeError).code).to.equal(TAMPERED);
    });

    it('streams 50 MiB with the default chunk size in constant memory', async function () {
      this.timeout(120_000);
      const total = 50 * MiB;
      const block = randomBytes(64 * 1024 + 7);
      let produced = 0;
      let consumed = 0;
      let maxLag = 0;
      const source = Readable.from((function* () {
        while (produced < total) {
          const piece = block.subarray(0, Math.min(block.length, total - produced));
          produced += piece.length;
          yield piece;
        }
      })());
      const expectedHash = createHash('sha256');
      for (let offset = 0; offset < total; offset += block.length) {
        expectedHash.update(block.subarray(0, Math.min(block.length, total - offset)));
      }
      const actualHash = createHash('sha256');
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          consumed += chunk.length;
          maxLag = Math.max(maxLag, produced - consumed);
          actualHash.update(chunk);
          // A slow consumer: backpressure must hold the producer back.
          setImmediate(callback);
        },
      });
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10);
      try {
        const encrypted = new PassThrough();
        const [encryption, decryption] = await Promise.all([
          encryptFile(source, encrypted, { generateDataKey: kms.generateDataKey }),
          decryptFile(encrypted, sink, { decrypt: kms.decrypt }),
        ]);
        expect(encryption.bytesIn).to.equal(total);
        expect(decryption.bytesOut).to.equal(total);
      } finally {
        clearInterval(sampler);
      }
      expect(actualHash.digest('hex')).to.equal(expectedHash.digest('hex'));
      // What is in flight is bounded by a few chunks and stream buffers, not by the file size.
      expect(maxLag).to.be.below(2 * MiB);
      expect(rssPeak - rssBefore).to.be.below(100 * 1000 * 1000);
    });
  });

  describe('header', () => {
    it('writes the fields in the documented layout', async () => {
      const context = { b: '2', a: '1' };
      const file = await encryptBytes(Buffer.alloc(0), { encryptionContext: context, chunkSize: 4096 });
      expect(file.subarray(0, 4).toString('latin1')).to.equal('KHF1');
      expect(file[4]).to.equal(1);
      expect(file.readUInt32BE(5)).to.equal(4096);
      const contextLength = file.readUInt16BE(9);
      expect(file.subarray(11, 11 + contextLength).toString()).to.equal('{"a":"1","b":"2"}');
      const keyLength = file.readUInt16BE(11 + contextLength);
      expect(keyLength).to.equal(12 + 32 + 16);
      expect(file.length).to.equal(13 + contextLength + keyLength + 32 + TAG);
    });

    it('stores {} when there is no context and passes {} to the KMS', async () => {
      const file = await encryptBytes(Buffer.from('x'));
      expect(file.subarray(11, 13).toString()).to.equal('{}');
      expect(kms.calls.contexts.at(-1)).to.deep.equal({});
    });
  });

  describe('tampering, decrypted to a path', () => {
    // Four chunks: three full ones of 1 KiB and a final one of 500 bytes.
    const plaintext = randomBytes(3 * SMALL_CHUNK + 500);
    const record = SMALL_CHUNK + TAG;
    let file: Buffer;
    let other: Buffer;
    let header: number;

    before(async () => {
      file = await encryptBytes(plaintext, { chunkSize: SMALL_CHUNK });
      other = await encryptBytes(randomBytes(plaintext.length), { chunkSize: SMALL_CHUNK });
      header = headerLength(file);
      expect(headerLength(other)).to.equal(header);
    });

    it('decrypts the untouched file to OUT with mode 0600 and no temporary file left', async () => {
      const inPath = join(directory, 'in.khf');
      const outPath = join(directory, 'out');
      writeFileSync(inPath, file);
      const result = await decryptFileAtPath(inPath, outPath, { decrypt: kms.decrypt });
      expect(result.bytesOut).to.equal(plaintext.length);
      expect(readFileSync(outPath).equals(plaintext)).to.equal(true);
      expect(statSync(outPath).mode & 0o777).to.equal(0o600);
      expect(readdirSync(directory).sort()).to.deep.equal(['in.khf', 'out']);
    });

    it('leaves an existing OUT unchanged when decryption fails', async () => {
      const inPath = join(directory, 'in.khf');
      const outPath = join(directory, 'out');
      writeFileSync(inPath, file.subarray(0, file.length - 1));
      writeFileSync(outPath, 'previous contents');
      await rejectionOf(decryptFileAtPath(inPath, outPath, { decrypt: kms.decrypt }), Error);
      expect(readFileSync(outPath, 'utf8')).to.equal('previous contents');
      expect(readdirSync(directory).sort()).to.deep.equal(['in.khf', 'out']);
    });

    for (const [name, cut] of [
      ['inside the magic', 3],
      ['inside the fixed fields', 10],
      ['inside the context', 14],
    ] as const) {
      it(`refuses a file cut ${name} as a format error`, async () => {
        await expectRefusedAtPath(file.subarray(0, cut), FORMAT);
      });
    }

    it('refuses a file cut inside the salt as a format error', async () => {
      await expectRefusedAtPath(file.subarray(0, header - 5), FORMAT);
    });

    it('refuses a file that ends right after its header', async () => {
      await expectRefusedAtPath(file.subarray(0, header), TAMPERED);
    });

    it('refuses a file cut inside a chunk', async () => {
      await expectRefusedAtPath(file.subarray(0, header + record + 100), TAMPERED);
      await expectRefusedAtPath(file.subarray(0, header + 3 * record + 10), TAMPERED);
      await expectRefusedAtPath(file.subarray(0, file.length - 1), TAMPERED);
    });

    for (const chunks of [1, 2, 3]) {
      it(`refuses a file cut exactly at a chunk boundary (after chunk ${chunks} of 4)`, async () => {
        await expectRefusedAtPath(file.subarray(0, header + chunks * record), TAMPERED);
      });
    }

    it('refuses a file whose empty final chunk was dropped', async () => {
      const full = await encryptBytes(randomBytes(2 * SMALL_CHUNK), { chunkSize: SMALL_CHUNK });
      expect(full.length).to.equal(header + 2 * record + TAG);
      await expectRefusedAtPath(full.subarray(0, full.length - TAG), TAMPERED);
    });

    it('refuses bytes appended after the final chunk', async () => {
      for (const extra of [1, TAG, 2000]) {
        await expectRefusedAtPath(Buffer.concat([file, randomBytes(extra)]), TAMPERED);
      }
      await expectRefusedAtPath(Buffer.concat([file, file.subarray(-TAG)]), TAMPERED);
    });

    it('refuses a bit flipped in a chunk, in a tag and in the final chunk', async () => {
      await expectRefusedAtPath(flipBit(file, header + 5), TAMPERED);
      await expectRefusedAtPath(flipBit(file, header + record - 1, 7), TAMPERED);
      await expectRefusedAtPath(flipBit(file, file.length - 100), TAMPERED);
      await expectRefusedAtPath(flipBit(file, file.length - 1), TAMPERED);
    });

    it('refuses two chunks swapped', async () => {
      const chunk = (index: number) => file.subarray(header + index * record, header + (index + 1) * record);
      const swapped = Buffer.concat([file.subarray(0, header), chunk(1), chunk(0), file.subarray(header + 2 * record)]);
      await expectRefusedAtPath(swapped, TAMPERED);
    });

    it('refuses a chunk dropped or repeated', async () => {
      const dropped = Buffer.concat([file.subarray(0, header + record), file.subarray(header + 2 * record)]);
      await expectRefusedAtPath(dropped, TAMPERED);
      const repeated = Buffer.concat([file.subarray(0, header + 2 * record), file.subarray(header + record)]);
      await expectRefusedAtPath(repeated, TAMPERED);
    });

    it('refuses a chunk taken from another file encrypted under another data key', async () => {
      const spliced = Buffer.concat([
        file.subarray(0, header + record),
        other.subarray(header + record, header + 2 * record),
        file.subarray(header + 2 * record),
      ]);
      await expectRefusedAtPath(spliced, TAMPERED);
    });

    it('refuses headers swapped between two files', async () => {
      await expectRefusedAtPath(Buffer.concat([other.subarray(0, header), file.subarray(header)]), TAMPERED);
    });

    it('refuses a flipped salt bit, and a chunk size edited to another valid size', async () => {
      await expectRefusedAtPath(flipBit(file, header - 1), TAMPERED);
      const resized = Buffer.from(file);
      resized.writeUInt32BE(2 * SMALL_CHUNK, 5);
      await expectRefusedAtPath(resized, TAMPERED);
    });

    it('refuses a file without the magic "KHF1"', async () => {
      const error = await expectRefusedAtPath(flipBit(file, 0), FORMAT);
      expect(error.message).to.match(/KHF1/);
      await expectRefusedAtPath(Buffer.from('just some plaintext, not a Keyhold file'), FORMAT);
      await expectRefusedAtPath(Buffer.alloc(0), FORMAT);
    });

    it('refuses a format version this code does not read', async () => {
      const error = await expectRefusedAtPath(flipBit(file, 4, 1), FORMAT);
      expect(error.message).to.match(/version 3/);
    });

    it('refuses a chunk size outside 1 KiB..16 MiB', async () => {
      for (const chunkSize of [0, 1023, 16 * MiB + 1, 0xffffffff]) {
        const edited = Buffer.from(file);
        edited.writeUInt32BE(chunkSize, 5);
        await expectRefusedAtPath(edited, FORMAT);
      }
    });

    it('refuses an encryption context longer than 8 KiB or shorter than "{}"', async () => {
      for (const length of [8193, 0xffff, 0, 1]) {
        const edited = Buffer.from(file);
        edited.writeUInt16BE(length, 9);
        await expectRefusedAtPath(edited, FORMAT);
      }
    });

    it('refuses a wrapped data key of 0 bytes or more than 4096 bytes', async () => {
      for (const length of [0, 4097, 0xffff]) {
        const edited = Buffer.from(file);
        edited.writeUInt16BE(length, 11 + file.readUInt16BE(9));
        await expectRefusedAtPath(edited, FORMAT);
      }
    });

    it('refuses a wrapped data key that the KMS does not unwrap, with the KMS error', async () => {
      const inPath = join(directory, 'in.khf');
      writeFileSync(inPath, flipBit(file, 11 + file.readUInt16BE(9) + 2 + 20));
      const error = await rejectionOf(decryptFileAtPath(inPath, join(directory, 'out'), { decrypt: kms.decrypt }), Error);
      expect(error.message).to.match(/^InvalidCiphertextException/);
      expect(readdirSync(directory)).to.deep.equal(['in.khf']);
    });
  });

  describe('encryption context in the header', () => {
    /** `file` with its context JSON replaced by `json` (which may have another length). */
    function withContext(file: Buffer, json: string): Buffer {
      const length = file.readUInt16BE(9);
      const replacement = Buffer.from(json, 'utf8');
      const size = Buffer.alloc(2);
      size.writeUInt16BE(replacement.length);
      return Buffer.concat([file.subarray(0, 9), size, replacement, file.subarray(11 + length)]);
    }

    it('refuses an edited context: the KMS will not unwrap the data key under it', async () => {
      const file = await encryptBytes(Buffer.from('payroll'), { encryptionContext: { department: 'hr' } });
      const error = await rejectionOf(decryptBytes(withContext(file, '{"department":"it"}')), Error);
      expect(error.message).to.match(/^InvalidCiphertextException/);
    });

    it('refuses an edited context even from a KMS that ignored it, because the header is bound into the key', async () => {
      const lax = fakeKms({ ignoreContext: true });
      const file = await encryptBytes(Buffer.from('payroll'), {
        encryptionContext: { department: 'hr' },
        generateDataKey: lax.generateDataKey,
      });
      expect((await decryptBytes(file, { decrypt: lax.decrypt })).toString()).to.equal('payroll');
      const error = await rejectionOf(decryptBytes(withContext(file, '{"department":"it"}'), { decrypt: lax.decrypt }), Error);
      expect((error as FileEnvelopeError).code).to.equal(TAMPERED);
    });

    for (const [name, json] of [
      ['with whitespace', '{ "a":"1"}'],
      ['with keys out of order', '{"b":"2","a":"1"}'],
      ['with a key given twice', '{"a":"1","a":"2"}'],
      ['with a needless escape', '{"\\u0061":"1"}'],
    ] as const) {
      it(`refuses a context that is not canonical JSON (${name})`, async () => {
        const file = await encryptBytes(Buffer.from('x'), { encryptionContext: { a: '1', b: '2' } });
        const error = await rejectionOf(decryptBytes(withContext(file, json)), Error);
        expect((error as FileEnvelopeError).code).to.equal(FORMAT);
      });
    }

    for (const json of ['[]', '{"a":1}', '{"a":{"b":"c"}}', '{"":"x"}', 'null', '"{}"', '{"a":"1"', '{"\\ud800":"x"}']) {
      it(`refuses a context that is not an object of strings: ${json}`, async () => {
        const file = await encryptBytes(Buffer.from('x'));
        const error = await rejectionOf(decryptBytes(withContext(file, json)), Error);
        expect((error as FileEnvelopeError).code).to.equal(FORMAT);
      });
    }

    it('refuses a context that is not UTF-8', async () => {
      const file = await encryptBytes(Buffer.from('x'), { encryptionContext: { a: 'é' } });
      const edited = Buffer.from(file);
      edited[11 + 6] = 0xff; // the first byte of "é"
      const error = await rejectionOf(decryptBytes(edited), Error);
      expect((error as FileEnvelopeError).code).to.equal(FORMAT);
    });
  });

  describe('decrypt to a stream', () => {
    it('never writes plaintext of a chunk whose tag fails, only the verified chunks before it', async () => {
      const plaintext = randomBytes(4 * SMALL_CHUNK);
      const file = await encryptBytes(plaintext, { chunkSize: SMALL_CHUNK });
      const tampered = flipBit(file, headerLength(file) + 2 * (SMALL_CHUNK + TAG) + 10);
      const { sink, bytes } = collector();
      const error = await rejectionOf(decryptFile(Readable.from(split(tampered, 300)), sink, { decrypt: kms.decrypt }), Error);
      expect((error as FileEnvelopeError).code).to.equal(TAMPERED);
      expect(bytes().equals(plaintext.subarray(0, 2 * SMALL_CHUNK))).to.equal(true);
    });

    it('refuses a wrapped key that unwraps to something other than a 32-byte data key', async () => {
      const file = await encryptBytes(Buffer.from('x'));
      const error = await rejectionOf(decryptBytes(file, { decrypt: async () => randomBytes(16) }), Error);
      expect((error as FileEnvelopeError).code).to.equal(FORMAT);
    });

    it('gives every authentication failure the same message, with no key bytes or plaintext', async () => {
      const plaintext = Buffer.from('a secret plaintext that must not leak'.repeat(100));
      const file = await encryptBytes(plaintext, { chunkSize: SMALL_CHUNK });
      const messages = new Set<string>();
      for (const broken of [flipBit(file, file.length - 1), file.subarray(0, file.length - 20), Buffer.concat([file, Buffer.from('x')])]) {
        const error = (await rejectionOf(decryptBytes(broken), Error)) as FileEnvelopeError;
        expect(error.code).to.equal(TAMPERED);
        messages.add(error.message);
      }
      expect([...messages]).to.have.length(1);
      expect([...messages][0]).not.to.include('secret');
    });
  });

  describe('encryption options', () => {
    it('refuses a chunk size outside 1 KiB..16 MiB before any file is created', async () => {
      const inPath = join(directory, 'plain');
      writeFileSync(inPath, 'x');
      for (const chunkSize of [0, 1023, 16 * MiB + 1, 1500.5]) {
        const error = await rejectionOf(
          encryptFileAtPath(inPath, join(directory, 'out'), { generateDataKey: kms.generateDataKey, chunkSize }),
          Error,
        );
        expect(error).to.be.instanceOf(RangeError);
      }
      expect(readdirSync(directory)).to.deep.equal(['plain']);
    });

    it('refuses an encryption context longer than 8 KiB as canonical JSON', async () => {
      const error = await rejectionOf(encryptBytes(Buffer.from('x'), { encryptionContext: { k: 'v'.repeat(8200) } }), Error);
      expect(error).to.be.instanceOf(RangeError);
    });

    it('refuses a context of empty keys, non-string values or lone surrogates', async () => {
      for (const encryptionContext of [{ '': 'x' }, { a: 1 }, { a: '\ud800' }, { '\udc00': 'x' }, ['x']]) {
        const error = await rejectionOf(
          encryptBytes(Buffer.from('x'), { encryptionContext: encryptionContext as unknown as Record<string, string> }),
          Error,
        );
        expect(error, JSON.stringify(encryptionContext)).to.be.instanceOf(TypeError);
      }
    });

    it('refuses a data key that is not 32 bytes, and zeroes it', async () => {
      const shortKey = randomBytes(16);
      const error = await rejectionOf(
        encryptBytes(Buffer.from('x'), {
          generateDataKey: async () => ({ plaintext: shortKey, ciphertextBlob: randomBytes(60) }),
        }),
        Error,
      );
      expect(error).to.be.instanceOf(TypeError);
      expect(shortKey.equals(Buffer.alloc(16))).to.equal(true);
    });

    it('refuses a wrapped data key larger than 4096 bytes', async () => {
      const error = await rejectionOf(
        encryptBytes(Buffer.from('x'), {
          generateDataKey: async () => ({ plaintext: randomBytes(32), ciphertextBlob: randomBytes(4097) }),
        }),
        Error,
      );
      expect(error).to.be.instanceOf(TypeError);
    });

    it('refuses an input stream with an encoding set', async () => {
      const error = await rejectionOf(
        encryptFile(Readable.from(['text']), collector().sink, { generateDataKey: kms.generateDataKey }),
        Error,
      );
      expect(error).to.be.instanceOf(TypeError);
    });
  });

  describe('encryptFileAtPath', () => {
    it('writes OUT through a temporary file and replaces it whole', async () => {
      const inPath = join(directory, 'plain');
      const outPath = join(directory, 'plain.khf');
      const plaintext = randomBytes(3 * MiB + 3);
      writeFileSync(inPath, plaintext);
      writeFileSync(outPath, 'old');
      const result = await encryptFileAtPath(inPath, outPath, { generateDataKey: kms.generateDataKey });
      expect(result.bytesOut).to.equal(statSync(outPath).size);
      expect(readdirSync(directory).sort()).to.deep.equal(['plain', 'plain.khf']);
      const decrypted = join(directory, 'decrypted');
      await decryptFileAtPath(outPath, decrypted, { decrypt: kms.decrypt });
      expect(readFileSync(decrypted).equals(plaintext)).to.equal(true);
    });

    it('writes an OUT whose name is 255 bytes long (the temporary name is cut)', async () => {
      const inPath = join(directory, 'plain');
      writeFileSync(inPath, 'x');
      await encryptFileAtPath(inPath, join(directory, 'é'.repeat(127) + 'x'), { generateDataKey: kms.generateDataKey });
      expect(readdirSync(directory)).to.have.length(2);
    });

    it('leaves no file when GenerateDataKey fails', async () => {
      const inPath = join(directory, 'plain');
      writeFileSync(inPath, 'x');
      const error = await rejectionOf(
        encryptFileAtPath(inPath, join(directory, 'out'), {
          generateDataKey: async () => {
            throw new Error('AccessDeniedException');
          },
        }),
        Error,
      );
      expect(error.message).to.equal('AccessDeniedException');
      expect(readdirSync(directory)).to.deep.equal(['plain']);
    });

    it('leaves no file when IN does not exist', async () => {
      const error = await rejectionOf(
        encryptFileAtPath(join(directory, 'missing'), join(directory, 'out'), { generateDataKey: kms.generateDataKey }),
        Error,
      );
      expect((error as NodeJS.ErrnoException).code).to.equal('ENOENT');
      expect(readdirSync(directory)).to.deep.equal([]);
    });
  });

  describe('properties', () => {
    it('round-trips any size from 0 to 5 chunks of 1 KiB, read in any piece size', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 5 * SMALL_CHUNK }), fc.integer({ min: 1, max: 3000 }), async (size, piece) => {
          const plaintext = randomBytes(size);
          const { sink, bytes } = collector();
          await encryptFile(Readable.from(split(plaintext, piece)), sink, {
            generateDataKey: kms.generateDataKey,
            chunkSize: SMALL_CHUNK,
          });
          const file = bytes();
          expect(file.length).to.equal(headerLength(file) + size + TAG * (Math.floor(size / SMALL_CHUNK) + 1));
          const out = collector();
          await decryptFile(Readable.from(split(file, piece)), out.sink, { decrypt: kms.decrypt });
          expect(out.bytes().equals(plaintext)).to.equal(true);
        }),
        { numRuns: 150 },
      );
    });

    it('refuses every single-byte change anywhere in the file', async () => {
      const files = await Promise.all(
        [0, 1, SMALL_CHUNK, 3 * SMALL_CHUNK + 7].map((size) =>
          encryptBytes(randomBytes(size), { chunkSize: SMALL_CHUNK, encryptionContext: { app: 'test' } }),
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...files),
          fc.nat(),
          fc.integer({ min: 1, max: 255 }),
          async (file, position, mask) => {
            const changed = Buffer.from(file);
            changed[position % file.length]! ^= mask;
            const { sink, bytes } = collector();
            const error = await rejectionOf(decryptFile(Readable.from([changed]), sink, { decrypt: kms.decrypt }), Error);
            expect(error).to.be.instanceOf(Error);
            // A header change fails before any chunk; a chunk change fails before that chunk is written.
            const offset = (position % file.length) - headerLength(file);
            const intactChunks = offset < 0 ? 0 : Math.floor(offset / (SMALL_CHUNK + TAG));
            expect(bytes().length).to.be.at.most(intactChunks * SMALL_CHUNK);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});

/**
 * A KHF1 file built from the format table in the doc comment, not from the implementation.
 * `pieces` (default: the documented chunking) and `finalFlag` allow deliberately wrong files.
 */
function buildFileFromSpec(spec: {
  plaintext: Buffer;
  context?: Context;
  contextJson?: string;
  pieces?: Buffer[];
  finalFlag?: (index: number, count: number) => number;
}): Buffer {
  const contextJson = Buffer.from(spec.contextJson ?? '{}');
  const dataKey = randomBytes(32);
  const ciphertextBlob = kms.wrap(dataKey, spec.context ?? {});
  const salt = randomBytes(32);
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const header = Buffer.concat([
    Buffer.from('KHF1'), Buffer.from([1]), Buffer.from([0, 0, 0x04, 0x00]),
    u16(contextJson.length), contextJson, u16(ciphertextBlob.length), ciphertextBlob, salt,
  ]);
  const info = Buffer.concat([Buffer.from('keyhold/file/v1'), createHash('sha256').update(header).digest()]);
  const payloadKey = Buffer.from(hkdfSync('sha256', dataKey, salt, info, 32));
  const pieces = spec.pieces ?? [...split(spec.plaintext, SMALL_CHUNK), ...(spec.plaintext.length % SMALL_CHUNK === 0 ? [Buffer.alloc(0)] : [])];
  const finalFlag = spec.finalFlag ?? ((index, count) => (index === count - 1 ? 1 : 0));
  const sealed = pieces.map((piece, index) => {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(index, 7);
    nonce[11] = finalFlag(index, pieces.length);
    const cipher = createCipheriv('aes-256-gcm', payloadKey, nonce);
    return Buffer.concat([cipher.update(piece), cipher.final(), cipher.getAuthTag()]);
  });
  return Buffer.concat([header, ...sealed]);
}
