import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultPkcs11Library, ensureMasterKey } from '../../src/providers/pkcs11.js';
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
  /** Sets CKF_USER_PIN_LOCKED in the token's file, as a token does after too many wrong PINs. */
  lockUserPin(): void;
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

  const addMasterKey = (keyLabel: string) => {
    // SoftHSM reads SOFTHSM2_CONF at C_Initialize; ensureMasterKey finalises when done.
    const previous = process.env.SOFTHSM2_CONF;
    process.env.SOFTHSM2_CONF = conf;
    try {
      ensureMasterKey({ library: softHsmLibrary, tokenLabel: label, pin, keyLabel });
    } finally {
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
    }
  };
  addMasterKey('keyhold-master');

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
    lockUserPin() {
      const [tokenFolder] = readdirSync(tokenDir);
      const file = path.join(tokenDir, tokenFolder!, 'token.object');
      const bytes = readFileSync(file);
      // The token flags of a fresh SoftHSM2 token (0x42d) are stored as a big-endian u64.
      const at = bytes.indexOf(Buffer.from('000000000000042d', 'hex'));
      if (at < 0) throw new Error('token flags not found in token.object');
      bytes.writeUInt32BE(0x0004042d, at + 4);
      writeFileSync(file, bytes);
    },
    remove: () => dir.remove(),
  };
}
