import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { defaultPkcs11Library, ensureMasterKey } from '../../src/providers/master-keys/pkcs11.js';
import { openTokenSession } from '../../src/providers/master-keys/pkcs11-session.js';
import { rememberSecret } from './secrets.js';
import { makeTempDir } from './temp-dir.js';

export const softHsmLibrary = defaultPkcs11Library();
export const softHsmAvailable =
  softHsmLibrary !== undefined && spawnSync('softhsm2-util', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * For a `before` hook of a suite that needs SoftHSM2: under CI=true a missing SoftHSM2
 * fails the run; on a laptop without it the suite is skipped with a message saying how
 * to install it.
 */
export function requireSoftHsm(context: Mocha.Context): void {
  if (softHsmAvailable) return;
  if (process.env.CI === 'true') {
    throw new Error('SoftHSM2 is required under CI=true but is not installed (apt-get install -y softhsm2)');
  }
  console.log('      SoftHSM2 is not installed: skipping the HSM tests (apt-get install -y softhsm2 to run them)');
  context.skip();
}

export interface TestToken {
  conf: string;
  tokenDir: string;
  label: string;
  pin: string;
  /** Environment for a server process using this token. */
  env(keyLabel?: string): Record<string, string>;
  /** Creates a master key with this label (idempotent). */
  addMasterKey(keyLabel: string): void;
  /**
   * Makes an AES-256 key that was once extractable (or once not sensitive) and then was turned
   * non-extractable (or sensitive): it looks like a master key today, but CKA_NEVER_EXTRACTABLE
   * (or CKA_ALWAYS_SENSITIVE) stays false.
   */
  addOnceExposedKey(keyLabel: string, exposure: 'extractable' | 'not-sensitive'): void;
  /** Sets CKF_USER_PIN_LOCKED in the token's file, as a token does after too many wrong PINs. */
  lockUserPin(): void;
  /** Sets CKF_USER_PIN_FINAL_TRY in the token's file, as a token does when one more wrong PIN locks it. */
  markUserPinFinalTry(): void;
  remove(): void;
}

/** A real SoftHSM2 token in a fresh temp dir, with a master key labelled `keyhold-master`. */
export function makeToken(label = 'keyhold-test'): TestToken {
  const dir = makeTempDir('keyhold-softhsm-');
  const tokenDir = path.join(dir.path, 'tokens');
  const conf = path.join(dir.path, 'softhsm2.conf');
  execFileSync('mkdir', ['-p', tokenDir]);
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const pin = `pin-${Math.random().toString(36).slice(2, 10)}`;
  rememberSecret(pin);
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', 'so-pin-1234'], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'ignore',
  });

  // SoftHSM reads SOFTHSM2_CONF at C_Initialize; the library is finalised when the session closes.
  const withConf = (run: () => void) => {
    const previous = process.env.SOFTHSM2_CONF;
    process.env.SOFTHSM2_CONF = conf;
    try {
      run();
    } finally {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
    }
  };
  const addMasterKey = (keyLabel: string) => withConf(() => ensureMasterKey({ library: softHsmLibrary, tokenLabel: label, pin, keyLabel }));
  addMasterKey('keyhold-master');

  const addOnceExposedKey = (keyLabel: string, exposure: 'extractable' | 'not-sensitive') =>
    withConf(() => {
      const token = openTokenSession({ library: softHsmLibrary, tokenLabel: label, pin });
      try {
        const attribute = exposure === 'extractable' ? pkcs11js.CKA_EXTRACTABLE : pkcs11js.CKA_SENSITIVE;
        const key = token.module.C_GenerateKey(token.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
          { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
          { type: pkcs11js.CKA_LABEL, value: keyLabel },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: exposure !== 'not-sensitive' },
          { type: pkcs11js.CKA_EXTRACTABLE, value: exposure === 'extractable' },
          { type: pkcs11js.CKA_ENCRYPT, value: true },
          { type: pkcs11js.CKA_DECRYPT, value: true },
          { type: pkcs11js.CKA_WRAP, value: true },
          { type: pkcs11js.CKA_UNWRAP, value: true },
        ]);
        // PKCS#11 lets CKA_EXTRACTABLE go to false and CKA_SENSITIVE to true, never back.
        token.module.C_SetAttributeValue(token.session, key, [{ type: attribute, value: exposure !== 'extractable' }]);
      } finally {
        token.close();
      }
    });

  /** Sets one of the user-PIN flags in the token's file (SoftHSM reports what the file holds). */
  const setUserPinFlag = (flag: number) => {
    const [tokenFolder] = readdirSync(tokenDir);
    const file = path.join(tokenDir, tokenFolder!, 'token.object');
    const bytes = readFileSync(file);
    // The token flags of a fresh SoftHSM2 token (0x42d) are stored as a big-endian u64.
    const at = bytes.indexOf(Buffer.from('000000000000042d', 'hex'));
    if (at < 0) throw new Error('token flags not found in token.object');
    bytes.writeUInt32BE(flag | 0x042d, at + 4);
    writeFileSync(file, bytes);
  };

  return {
    conf,
    tokenDir,
    label,
    pin,
    env: (keyLabel = 'keyhold-master') => ({
      SOFTHSM2_CONF: conf,
      KEYHOLD_MASTER: 'pkcs11',
      KEYHOLD_PKCS11_TOKEN_LABEL: label,
      KEYHOLD_PKCS11_PIN: pin,
      KEYHOLD_PKCS11_KEY_LABEL: keyLabel,
    }),
    addMasterKey,
    addOnceExposedKey,
    lockUserPin: () => setUserPinFlag(pkcs11js.CKF_USER_PIN_LOCKED),
    markUserPinFinalTry: () => setUserPinFlag(pkcs11js.CKF_USER_PIN_FINAL_TRY),
    remove: () => dir.remove(),
  };
}
