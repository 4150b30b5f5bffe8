import { expect } from 'chai';
import { hintsFor } from '../../cli/errors.js';
import { PROGRESS_THRESHOLD, progressWanted, size, startProgress } from '../../cli/progress.js';
import { KeyholdApiError, KeyholdConnectionError } from '../../src/client/index.js';

const MiB = 1024 * 1024;

/** A terminal that keeps what was written, and a clock the test moves. */
function fakeTerminal() {
  const written: string[] = [];
  let time = 0;
  return { written, terminal: { isTTY: true, write: (text: string) => written.push(text) }, now: () => time, tick: (ms: number) => (time += ms) };
}

describe('the progress line', () => {
  it('is wanted only on a terminal, and not with --no-progress', () => {
    expect(progressWanted(undefined, { isTTY: true, write: () => true })).to.equal(true);
    expect(progressWanted(true, { isTTY: true, write: () => true })).to.equal(true);
    expect(progressWanted(false, { isTTY: true, write: () => true })).to.equal(false);
    expect(progressWanted(undefined, { isTTY: false, write: () => true })).to.equal(false);
    expect(progressWanted(undefined, { write: () => true })).to.equal(false);
  });

  it('draws the share of a file over the threshold, at most every 100 ms, and ends with the totals', () => {
    const { written, terminal, now, tick } = fakeTerminal();
    const progress = startProgress('encrypt-file', 10 * MiB, terminal, now);
    tick(100);
    progress.advance(5 * MiB);
    progress.advance(1); // within 100 ms of the last drawing: not drawn
    expect(written).to.deep.equal(['\r\x1b[Kencrypt-file   50%  5.0 MiB of 10.0 MiB  50.0 MiB/s']);
    tick(900);
    progress.advance(5 * MiB - 1);
    progress.finish(true);
    expect(written.at(-1)).to.equal('\r\x1b[Kencrypt-file: 10.0 MiB in 1.0 s, 10.0 MiB/s\n');
  });

  it('stays silent for a file under the threshold, and for stdin until the threshold has passed', () => {
    const small = fakeTerminal();
    const quiet = startProgress('decrypt-file', PROGRESS_THRESHOLD, small.terminal, small.now);
    small.tick(1000);
    quiet.advance(PROGRESS_THRESHOLD);
    quiet.finish(true);
    expect(small.written).to.deep.equal([]);

    const stdin = fakeTerminal();
    const piped = startProgress('decrypt-file', undefined, stdin.terminal, stdin.now);
    stdin.tick(1000);
    piped.advance(PROGRESS_THRESHOLD);
    expect(stdin.written).to.deep.equal([]);
    piped.advance(1);
    expect(stdin.written).to.deep.equal(['\r\x1b[Kdecrypt-file  4.0 MiB  4.0 MiB/s']);
  });

  it('erases its line after a failure, so that the error starts a clean line', () => {
    const { written, terminal, now, tick } = fakeTerminal();
    const progress = startProgress('decrypt-file', 10 * MiB, terminal, now);
    tick(200);
    progress.advance(MiB);
    progress.finish(false);
    expect(written.at(-1)).to.equal('\r\x1b[K');
  });

  it('tells sizes in binary units', () => {
    expect([size(0), size(1023), size(1536), size(5 * MiB + 123), size(3 * 1024 * MiB)]).to.deep.equal(['0 B', '1023 B', '1.5 KiB', '5.0 MiB', '3.0 GiB']);
  });
});

describe('hints under the errors of the common dead ends', () => {
  const setting = { url: 'https://kms.example:8443', from: "the profile 'prod'" };
  const connection = (code: string) => hintsFor(new KeyholdConnectionError('failed', { code }), setting).join('\n');
  const api = (type: string, command?: string) => hintsFor(new KeyholdApiError(type, 400, 'failed'), { ...setting, command }).join('\n');

  it('connection refused names the URL and its origin', () => {
    expect(connection('ECONNREFUSED')).to.equal(
      "hint: nothing answers at https://kms.example:8443 (the URL from the profile 'prod'): is the Keyhold server running there? " +
        'Start one with `keyhold server`, or name the right one with --url or --profile',
    );
    expect(connection('ENOTFOUND')).to.match(/host name in https:\/\/kms\.example:8443 .* is not known/);
    expect(connection('ETIMEDOUT')).to.match(/no answer from https:\/\/kms\.example:8443/);
  });

  it('certificate problems: which setting trusts the server, or what is wrong with its certificate', () => {
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']) {
      expect(connection(code), code).to.include('--ca-cert FILE').and.include('--import-credentials');
    }
    expect(connection('CERT_HAS_EXPIRED')).to.match(/outside its validity dates: renew it, or check this machine's clock/);
    expect(connection('ERR_TLS_CERT_ALTNAME_INVALID')).to.match(/does not name that host/);
    expect(connection('CERT_PIN_MISMATCH')).to.match(/presents another certificate than the pinned one/);
  });

  it('an expired request points at the clocks; a bad signature at the credential in use', () => {
    expect(api('RequestExpired')).to.match(/clock.*5 minutes/);
    expect(api('InvalidSignatureException')).to.include("check the credential in the profile 'prod'");
    const fromEnvironment = hintsFor(new KeyholdApiError('InvalidSignatureException', 401, 'failed'), { url: setting.url, from: 'KEYHOLD_URL' });
    expect(fromEnvironment.join('\n')).to.include('check the credential in KEYHOLD_ACCESS_KEY_ID and KEYHOLD_SECRET_KEY');
    expect(api('UnrecognizedClientException')).to.match(/does not know this access key id/);
  });

  it('NotFoundException hints at another server only for the commands that decrypt a blob', () => {
    for (const command of ['decrypt', 'decrypt-file', 'reencrypt']) expect(api('NotFoundException', command), command).to.match(/another Keyhold server/);
    expect(api('NotFoundException', 'encrypt')).to.equal('');
    expect(api('NotFoundException')).to.equal('');
  });

  it('no hint for other errors', () => {
    expect(api('ValidationException')).to.equal('');
    expect(connection('ECONNRESET')).to.equal('');
    expect(hintsFor(new Error('plain'), setting)).to.deep.equal([]);
  });
});
