import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { runServerToCompletion } from '../helpers/server-process.js';
import { makeToken, requireSoftHsm, type TestToken } from '../helpers/softhsm.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/**
 * What the PKCS#11 provider checks before it uses a token (docs/operations.md, "The PKCS#11 master key"):
 * a master key that was never outside the token, and a PIN tried only when a wrong one could
 * not lock the token. Real SoftHSM2 tokens, real server starts.
 */
describe('PKCS#11 master key checks at start, on real SoftHSM2 tokens', function () {
  this.timeout(60_000);
  const cleanups: (() => void)[] = [];

  before(function () {
    requireSoftHsm(this);
  });
  after(() => cleanups.forEach((cleanup) => cleanup()));

  function token(): TestToken {
    const made = makeToken();
    cleanups.push(() => made.remove());
    return made;
  }

  function workDir(): string {
    const dir = makeTempDir('keyhold-hsm-checks-');
    cleanups.push(() => dir.remove());
    return dir.path;
  }

  /** Starts a server expecting exit 1 with one stderr line matching `pattern`, nothing stored, no PIN shown. */
  async function expectRefused(hsm: TestToken, keyLabel: string, pattern: RegExp): Promise<void> {
    const cwd = workDir();
    const dataDir = path.join(cwd, 'data');
    const result = await runServerToCompletion({ ...hsm.env(keyLabel), KEYHOLD_DATA_DIR: dataDir }, cwd);
    expect(result.code, result.stderr).to.equal(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).to.have.length(1);
    expect(lines[0]).to.match(pattern);
    expect(result.stdout + result.stderr).not.to.include(hsm.pin);
    expect(existsSync(path.join(dataDir, 'store')), 'a store was made').to.equal(false);
  }

  for (const exposure of ['extractable', 'not-sensitive'] as const) {
    it(`refuses a master key that was once ${exposure === 'extractable' ? 'extractable' : 'not sensitive'}, though it is not any more`, async () => {
      const hsm = token();
      hsm.addOnceExposedKey('once-exposed', exposure);
      await expectRefused(
        hsm,
        'once-exposed',
        /^keyhold: KEYHOLD_PKCS11_KEY_LABEL: the key 'once-exposed' was once extractable or not sensitive \(CKA_NEVER_EXTRACTABLE and CKA_ALWAYS_SENSITIVE must be true\)/,
      );
    });
  }

  it('refuses to try the PIN when the token says one more wrong PIN locks it (CKF_USER_PIN_FINAL_TRY)', async () => {
    const hsm = token();
    hsm.markUserPinFinalTry();
    await expectRefused(hsm, 'keyhold-master', /^keyhold: KEYHOLD_PKCS11_PIN: the token says one more wrong user PIN locks it \(CKF_USER_PIN_FINAL_TRY\)/);
  });
});
