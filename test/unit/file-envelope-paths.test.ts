import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expect } from 'chai';
import { rejectionOf } from '../helpers/rejection.js';
import {
  DEFAULT_CHUNK_SIZE,
  FileEnvelopeError,
  MAX_CHUNK_SIZE,
  decryptFile,
  decryptFileAtPath,
  encryptFile,
  encryptFileAtPath,
} from '../../src/client/file-envelope.js';

type Context = Readonly<Record<string, string>>;

const TAG = 16;
const SMALL_CHUNK = 1024;
// The path functions read about 128 KiB at a time (src/client/file-envelope-blocks.ts):
// 128 chunks of 1 KiB when encrypting, 126 records of 1 KiB + 16 when decrypting.
const ENCRYPT_BLOCK = 128 * SMALL_CHUNK;
const DECRYPT_BLOCK_RECORDS = 126;

/** A stand-in KMS: the "wrapped" key is the data key sealed under a random key, context as AAD. */
function fakeKms() {
  const wrappingKey = randomBytes(32);
  const aad = (context: Context) => Buffer.from(JSON.stringify(Object.entries(context).sort()));
  return {
    generateDataKey: async (context: Context) => {
      const plaintext = randomBytes(32);
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', wrappingKey, iv).setAAD(aad(context));
      const ciphertextBlob = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return { plaintext, ciphertextBlob, keyId: 'key-1' };
    },
    decrypt: async (blob: Buffer, context: Context) => {
      const decipher = createDecipheriv('aes-256-gcm', wrappingKey, blob.subarray(0, 12));
      decipher.setAAD(aad(context)).setAuthTag(blob.subarray(-16));
      return Buffer.concat([decipher.update(blob.subarray(12, -16)), decipher.final()]);
    },
  };
}

const kms = fakeKms();

/**
 * Reads a KHF1 file by the format table alone (not through src/): checks the layout, the
 * chunk lengths, the counter and final flag of every nonce, and returns the plaintext.
 */
async function decryptBySpec(file: Buffer): Promise<{ plaintext: Buffer; chunkSize: number; context: Context }> {
  expect(file.subarray(0, 5).equals(Buffer.from('KHF1\x01', 'latin1'))).to.equal(true);
  const chunkSize = file.readUInt32BE(5);
  const contextLength = file.readUInt16BE(9);
  const context = JSON.parse(file.subarray(11, 11 + contextLength).toString('utf8')) as Context;
  const keyLength = file.readUInt16BE(11 + contextLength);
  const wrappedKey = file.subarray(13 + contextLength, 13 + contextLength + keyLength);
  const headerLength = 13 + contextLength + keyLength + 32;
  const header = file.subarray(0, headerLength);
  const salt = header.subarray(-32);
  const dataKey = await kms.decrypt(wrappedKey, context);
  const info = Buffer.concat([Buffer.from('keyhold/file/v1'), createHash('sha256').update(header).digest()]);
  const payloadKey = Buffer.from(hkdfSync('sha256', dataKey, salt, info, 32));
  const body = file.subarray(headerLength);
  const chunks = Math.floor(body.length / (chunkSize + TAG)) + 1;
  const plaintext: Buffer[] = [];
  for (let index = 0; index < chunks; index++) {
    const record = body.subarray(index * (chunkSize + TAG), (index + 1) * (chunkSize + TAG));
    const final = index === chunks - 1;
    expect(record.length, `chunk ${index}`).to.equal(final ? (body.length % (chunkSize + TAG)) : chunkSize + TAG);
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(index, 7);
    nonce[11] = final ? 1 : 0;
    const decipher = createDecipheriv('aes-256-gcm', payloadKey, nonce).setAuthTag(record.subarray(-TAG));
    plaintext.push(decipher.update(record.subarray(0, -TAG)), decipher.final());
  }
  return { plaintext: Buffer.concat(plaintext), chunkSize, context };
}


function flipBit(file: Buffer, offset: number): Buffer {
  const copy = Buffer.from(file);
  copy[offset]! ^= 1;
  return copy;
}

function headerLength(file: Buffer): number {
  const contextLength = file.readUInt16BE(9);
  return 13 + contextLength + file.readUInt16BE(11 + contextLength) + 32;
}

describe('file envelope between files (src/client/file-envelope-paths.ts)', () => {
  let directory: string;
  let inPath: string;
  let outPath: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'keyhold-file-paths-'));
    inPath = join(directory, 'in');
    outPath = join(directory, 'out');
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  async function encryptAtPath(plaintext: Buffer, chunkSize?: number, encryptionContext?: Context) {
    writeFileSync(inPath, plaintext);
    const result = await encryptFileAtPath(inPath, outPath, {
      generateDataKey: kms.generateDataKey,
      ...(chunkSize === undefined ? {} : { chunkSize }),
      ...(encryptionContext === undefined ? {} : { encryptionContext: { ...encryptionContext } }),
    });
    return { result, file: readFileSync(outPath) };
  }

  /** Decrypts `file` from a path; expects the tampered error, no OUT and no temporary file. */
  async function expectTampered(file: Buffer) {
    writeFileSync(inPath, file);
    const error = await rejectionOf(decryptFileAtPath(inPath, outPath, { decrypt: kms.decrypt }), Error);
    expect(error, String(error)).to.be.instanceOf(FileEnvelopeError);
    expect((error as FileEnvelopeError).code).to.equal('ERR_KEYHOLD_FILE_TAMPERED');
    expect(readdirSync(directory)).to.deep.equal(['in']);
  }

  describe('format', () => {
    const sizes: Array<[number, number]> = [
      [0, SMALL_CHUNK], [1, SMALL_CHUNK], [SMALL_CHUNK - 1, SMALL_CHUNK], [SMALL_CHUNK, SMALL_CHUNK], [SMALL_CHUNK + 1, SMALL_CHUNK],
      [ENCRYPT_BLOCK - 1, SMALL_CHUNK], [ENCRYPT_BLOCK, SMALL_CHUNK], [ENCRYPT_BLOCK + 1, SMALL_CHUNK], [3 * ENCRYPT_BLOCK + 5, SMALL_CHUNK],
      [0, DEFAULT_CHUNK_SIZE], [DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE], [2 * DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE],
      [2 * DEFAULT_CHUNK_SIZE + 1, DEFAULT_CHUNK_SIZE], [5 * DEFAULT_CHUNK_SIZE - 3, DEFAULT_CHUNK_SIZE],
      [200 * 1024 + 3, 200 * 1024],
    ];
    for (const [size, chunkSize] of sizes) {
      it(`writes a ${size}-byte file in ${chunkSize}-byte chunks as the format table says, and reads it back`, async () => {
        const plaintext = randomBytes(size);
        const { result, file } = await encryptAtPath(plaintext, chunkSize, { case: String(size) });
        expect(result).to.deep.equal({ bytesIn: size, bytesOut: file.length, keyId: 'key-1' });
        const bySpec = await decryptBySpec(file);
        expect(bySpec.plaintext.equals(plaintext)).to.equal(true);
        expect(bySpec.chunkSize).to.equal(chunkSize);
        expect(bySpec.context).to.deep.equal({ case: String(size) });

        const decrypted = await decryptFileAtPath(outPath, join(directory, 'back'), { decrypt: kms.decrypt });
        expect(decrypted).to.deep.equal({ bytesOut: size, encryptionContext: { case: String(size) } });
        expect(readFileSync(join(directory, 'back')).equals(plaintext)).to.equal(true);
      });
    }

    it('writes and reads the largest chunk size, a chunk larger than a block', async function () {
      this.timeout(30_000);
      const plaintext = randomBytes(MAX_CHUNK_SIZE + 1);
      const { file } = await encryptAtPath(plaintext, MAX_CHUNK_SIZE);
      expect((await decryptBySpec(file)).plaintext.equals(plaintext)).to.equal(true);
      await decryptFileAtPath(outPath, join(directory, 'back'), { decrypt: kms.decrypt });
      expect(readFileSync(join(directory, 'back')).equals(plaintext)).to.equal(true);
    });

    it('decrypts at a path what encryptFile wrote to a stream, and decryptFile reads what encryptFileAtPath wrote', async () => {
      const plaintext = randomBytes(3 * DEFAULT_CHUNK_SIZE + 11);
      const streamed: Buffer[] = [];
      await encryptFile(Readable.from([plaintext]), collect(streamed), { generateDataKey: kms.generateDataKey });
      writeFileSync(join(directory, 'streamed.khf'), Buffer.concat(streamed));
      await decryptFileAtPath(join(directory, 'streamed.khf'), join(directory, 'streamed'), { decrypt: kms.decrypt });
      expect(readFileSync(join(directory, 'streamed')).equals(plaintext)).to.equal(true);

      const { file } = await encryptAtPath(plaintext);
      const decrypted: Buffer[] = [];
      await decryptFile(Readable.from([file]), collect(decrypted), { decrypt: kms.decrypt });
      expect(Buffer.concat(decrypted).equals(plaintext)).to.equal(true);
    });
  });

  describe('known-answer files (test/fixtures/file-format-khf1.json)', () => {
    const fixture = JSON.parse(readFileSync(new URL('../fixtures/file-format-khf1.json', import.meta.url), 'utf8')) as {
      vectors: Array<{ name: string; dataKey: string; wrappedDataKey: string; encryptionContext: Context; plaintext: string; file: string }>;
    };
    for (const vector of fixture.vectors) {
      it(`decrypts "${vector.name}" at a path and as a stream`, async () => {
        const decrypt = async (blob: Buffer, context: Context) => {
          expect(blob.toString('hex')).to.equal(vector.wrappedDataKey);
          expect(context).to.deep.equal(vector.encryptionContext);
          return Buffer.from(vector.dataKey, 'hex');
        };
        writeFileSync(inPath, Buffer.from(vector.file, 'base64'));
        const result = await decryptFileAtPath(inPath, outPath, { decrypt });
        expect(result.encryptionContext).to.deep.equal(vector.encryptionContext);
        expect(readFileSync(outPath).toString('hex')).to.equal(vector.plaintext);

        const streamed: Buffer[] = [];
        await decryptFile(createReadStream(inPath), collect(streamed), { decrypt });
        expect(Buffer.concat(streamed).toString('hex')).to.equal(vector.plaintext);
      });
    }
  });

  describe('tampering across blocks', () => {
    // 300 records: the decrypting reader's blocks end after records 126 and 252.
    const plaintext = randomBytes(300 * SMALL_CHUNK + 100);
    const record = SMALL_CHUNK + TAG;
    let file: Buffer;
    let header: number;

    before(async () => {
      const streamed: Buffer[] = [];
      await encryptFile(Readable.from([plaintext]), collect(streamed), { generateDataKey: kms.generateDataKey, chunkSize: SMALL_CHUNK });
      file = Buffer.concat(streamed);
      header = headerLength(file);
    });

    for (const records of [DECRYPT_BLOCK_RECORDS, 2 * DECRYPT_BLOCK_RECORDS, 300]) {
      it(`refuses a file that does not end with its final chunk (cut after record ${records}, a block boundary or the last full record)`, async () => {
        await expectTampered(file.subarray(0, header + records * record));
      });
    }

    it('refuses a bit flipped in the third block, with no OUT left behind', async () => {
      await expectTampered(flipBit(file, header + 2 * DECRYPT_BLOCK_RECORDS * record + 7));
    });

    it('refuses two chunks swapped across a block boundary', async () => {
      const swapped = Buffer.from(file);
      const first = header + (DECRYPT_BLOCK_RECORDS - 1) * record;
      file.copy(swapped, first, first + record, first + 2 * record);
      file.copy(swapped, first + record, first, first + record);
      await expectTampered(swapped);
    });

    it('refuses a final chunk shorter than its tag', async () => {
      await expectTampered(file.subarray(0, header + 300 * record + TAG - 1));
    });
  });

  describe('the output path', () => {
    it('refuses an output path that exists and is not a regular file, before the KMS is asked and leaving it as it was', async () => {
      writeFileSync(inPath, 'plaintext');
      writeFileSync(join(directory, 'target'), 'target');
      symlinkSync('target', join(directory, 'link'));
      mkdirSync(join(directory, 'dir'));
      execFileSync('mkfifo', [join(directory, 'fifo')]);
      let kmsCalls = 0;
      const counted = {
        generateDataKey: (context: Context) => (kmsCalls++, kms.generateDataKey(context)),
        decrypt: (blob: Buffer, context: Context) => (kmsCalls++, kms.decrypt(blob, context)),
      };
      await encryptFileAtPath(inPath, join(directory, 'file.khf'), counted);
      kmsCalls = 0;
      for (const [name, kind] of [['link', 'a symbolic link'], ['dir', 'a directory'], ['fifo', 'a named pipe']]) {
        const target = join(directory, name!);
        for (const attempt of [encryptFileAtPath(inPath, target, counted), decryptFileAtPath(join(directory, 'file.khf'), target, counted)]) {
          const error = await rejectionOf(attempt, FileEnvelopeError);
          expect(error.code).to.equal('ERR_KEYHOLD_FILE_OUTPUT');
          expect(error.message).to.equal(`${target} exists and is ${kind}, not a regular file: refusing to replace it`);
        }
      }
      expect(kmsCalls).to.equal(0);
      expect(readlinkSync(join(directory, 'link'))).to.equal('target');
      expect(readFileSync(join(directory, 'target'), 'utf8')).to.equal('target');
      expect(readdirSync(directory).sort()).to.deep.equal(['dir', 'fifo', 'file.khf', 'in', 'link', 'target']);
    });

    it('replaces an existing regular file', async () => {
      writeFileSync(inPath, 'new');
      writeFileSync(outPath, 'old');
      await encryptFileAtPath(inPath, join(directory, 'new.khf'), { generateDataKey: kms.generateDataKey });
      await decryptFileAtPath(join(directory, 'new.khf'), outPath, { decrypt: kms.decrypt });
      expect(readFileSync(outPath, 'utf8')).to.equal('new');
    });
  });

  describe('pipes', () => {
    it('encrypts from a pipe and decrypts from a pipe, whose reads come in short pieces', async function () {
      this.timeout(30_000);
      const plaintext = randomBytes(ENCRYPT_BLOCK * 2 + 12_345);
      const fifo = join(directory, 'fifo');
      execFileSync('mkfifo', [fifo]);
      await Promise.all([
        pipeline(Readable.from([plaintext]), createWriteStream(fifo)),
        encryptFileAtPath(fifo, join(directory, 'piped.khf'), { generateDataKey: kms.generateDataKey, chunkSize: SMALL_CHUNK }),
      ]);
      const encrypted = readFileSync(join(directory, 'piped.khf'));
      expect((await decryptBySpec(encrypted)).plaintext.equals(plaintext)).to.equal(true);

      await Promise.all([
        pipeline(Readable.from([encrypted]), createWriteStream(fifo)),
        decryptFileAtPath(fifo, outPath, { decrypt: kms.decrypt }),
      ]);
      expect(readFileSync(outPath).equals(plaintext)).to.equal(true);
    });
  });
});

function collect(parts: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
}
