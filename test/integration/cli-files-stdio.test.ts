import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { runCli, type CliResult } from '../helpers/cli.js';
import { rememberSecret } from '../helpers/secrets.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const PASSPHRASE = 'cli files stdio suite passphrase, long enough';
const CHUNK = 65_536;
const RECORD = CHUNK + 16;

describe('encrypt-file and decrypt-file: OUT that is no regular file, and - for stdin and stdout', function () {
  this.timeout(120_000);
  let cwd: string;
  let server: ServerProcess;
  let keyId: string;
  let removeDirs: () => void;
  /** 3.5 chunks of random bytes, and the file they encrypt to. */
  const plaintext = randomBytes(3 * CHUNK + CHUNK / 2);

  function keyhold(args: string[], input?: Buffer): Promise<CliResult> {
    return runCli(args, { cwd, env: { KEYHOLD_CREDENTIALS_FILE: path.join(cwd, 'data', 'admin.credentials') }, input });
  }

  async function ok(args: string[], input?: Buffer): Promise<Buffer> {
    const result = await keyhold(args, input);
    expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    expect(result.stderr).to.equal('');
    return result.stdout;
  }

  /** Runs keyhold expecting a refusal of OUT: exit 2, one line naming what OUT is. */
  async function expectOutputRefused(args: string[], kind: string): Promise<void> {
    const result = await keyhold(args);
    expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(2);
    expect(result.stderr.trim().split('\n')).to.have.length(1);
    expect(result.stderr).to.match(new RegExp(`^Error: ERR_KEYHOLD_FILE_OUTPUT: .* exists and is ${kind}, not a regular file: refusing to replace it\\n$`));
    expect(result.stdout).to.have.length(0);
  }

  before(async () => {
    rememberSecret(PASSPHRASE);
    const work = makeTempDir('keyhold-cli-stdio-');
    removeDirs = () => work.remove();
    cwd = work.path;
    server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(cwd, 'data'), KEYHOLD_PASSPHRASE: PASSPHRASE }, cwd);
    rememberSecret(JSON.parse(readFileSync(path.join(cwd, 'data', 'admin.credentials'), 'utf8')).SecretKey);
    keyId = JSON.parse((await ok(['keys', 'create', '--description', 'stdio files'])).toString()).KeyMetadata.KeyId;
    writeFileSync(path.join(cwd, 'plain.bin'), plaintext);
    await ok(['encrypt-file', 'plain.bin', 'plain.khf', '--key-id', keyId]);
  });
  after(async () => {
    await server.stop();
    removeDirs();
  });

  describe('an OUT that exists and is not a regular file', () => {
    it('refuses a symlink OUT and leaves the link and its target untouched', async () => {
      writeFileSync(path.join(cwd, 'target.txt'), 'the link target');
      symlinkSync('target.txt', path.join(cwd, 'link.out'));
      await expectOutputRefused(['decrypt-file', 'plain.khf', 'link.out'], 'a symbolic link');
      await expectOutputRefused(['encrypt-file', 'plain.bin', 'link.out', '--key-id', keyId], 'a symbolic link');
      expect(lstatSync(path.join(cwd, 'link.out')).isSymbolicLink()).to.equal(true);
      expect(readlinkSync(path.join(cwd, 'link.out'))).to.equal('target.txt');
      expect(readFileSync(path.join(cwd, 'target.txt'), 'utf8')).to.equal('the link target');
    });

    it('refuses a device OUT', async function () {
      if (process.getuid?.() !== 0) {
        if (process.env.CI === 'true') expect.fail('CI runs as root, which this test needs to make a device node');
        return this.skip(); // mknod needs root; outside CI the test is skipped with this reason
      }
      // A device node like /dev/null (major 1, minor 3), made in the test's own directory.
      execFileSync('mknod', [path.join(cwd, 'null.out'), 'c', '1', '3']);
      await expectOutputRefused(['decrypt-file', 'plain.khf', 'null.out'], 'a device');
      expect(lstatSync(path.join(cwd, 'null.out')).isCharacterDevice()).to.equal(true);
    });

    it('refuses a named pipe or a directory as OUT', async () => {
      execFileSync('mkfifo', [path.join(cwd, 'fifo.out')]);
      await expectOutputRefused(['decrypt-file', 'plain.khf', 'fifo.out'], 'a named pipe');
      expect(lstatSync(path.join(cwd, 'fifo.out')).isFIFO()).to.equal(true);
      mkdirSync(path.join(cwd, 'dir.out'));
      await expectOutputRefused(['decrypt-file', 'plain.khf', 'dir.out'], 'a directory');
    });

    it('refuses a symlink as --out of decrypt, and leaves it', async () => {
      const blob = await ok(['encrypt', '--key-id', keyId, '--plaintext', 'small']);
      symlinkSync('target.txt', path.join(cwd, 'blob-link.out'));
      const result = await keyhold(['decrypt', '--out', 'blob-link.out'], blob);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(/^Error: UsageError: --out blob-link\.out exists and is a symbolic link, not a regular file/);
      expect(readlinkSync(path.join(cwd, 'blob-link.out'))).to.equal('target.txt');
    });
  });

  describe('- for stdin and stdout', () => {
    for (const size of [0, CHUNK, 3 * CHUNK + 7]) {
      it(`round-trips ${size} bytes from stdin to stdout and back, through pipes`, async () => {
        const data = plaintext.subarray(0, size);
        const encrypted = await ok(['encrypt-file', '-', '-', '--key-id', keyId, '--context', 'via=pipe'], data);
        expect(encrypted.subarray(0, 4).toString()).to.equal('KHF1');
        const decrypted = await ok(['decrypt-file', '-', '-', '--context', 'via=pipe'], encrypted);
        expect(decrypted.equals(data)).to.equal(true);
      });
    }

    it('mixes - with files: IN file to stdout, stdin to an OUT file', async () => {
      const encrypted = await ok(['encrypt-file', 'plain.bin', '-', '--key-id', keyId]);
      await ok(['decrypt-file', '-', 'from-stdin.out'], encrypted);
      expect(readFileSync(path.join(cwd, 'from-stdin.out')).equals(plaintext)).to.equal(true);
      expect(lstatSync(path.join(cwd, 'from-stdin.out')).mode & 0o777).to.equal(0o600);
      await ok(['encrypt-file', '-', 'from-stdin.khf', '--key-id', keyId], plaintext);
      expect((await ok(['decrypt-file', 'from-stdin.khf', '-'])).equals(plaintext)).to.equal(true);
    });

    it('exits 1 for a damaged file to stdout, having written only the chunks that authenticated', async () => {
      const file = readFileSync(path.join(cwd, 'plain.khf'));
      const header = file.length - plaintext.length - 16 * 4;
      const cases: Array<[string, Buffer, number]> = [
        ['final chunk dropped at a chunk boundary', file.subarray(0, header + 3 * RECORD), 3],
        ['truncated inside the second chunk', file.subarray(0, header + RECORD + 100), 1],
        ['a bit flipped in the third chunk', flipped(file, header + 2 * RECORD + 5), 2],
        ['truncated inside the header', file.subarray(0, 20), 0],
      ];
      for (const [what, damaged, goodChunks] of cases) {
        const result = await keyhold(['decrypt-file', '-', '-'], damaged);
        expect(result.code, `${what}: ${result.stderr}`).to.equal(1);
        expect(result.stderr, what).to.match(/^Error: ERR_KEYHOLD_FILE_(TAMPERED|FORMAT): /);
        expect(result.stdout.equals(plaintext.subarray(0, goodChunks * CHUNK)), `${what}: stdout holds the ${goodChunks} chunks before the damage`).to.equal(true);
      }
    });
  });
});

function flipped(bytes: Buffer, position: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[position]! ^= 0x01;
  return copy;
}
