/**
 * A throwaway SoftHSM2 token in a temp dir with a Keyhold master key, for the master-key
 * measurement (the same steps as test/helpers/softhsm.ts, without the test plumbing).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultPkcs11Library, ensureMasterKey } from '../src/providers/master-keys/pkcs11.js';

const TOKEN_LABEL = 'keyhold-bench';
// A throwaway token in a temp dir: the PIN protects nothing.
const PIN = 'bench-pin-1234';

export function softHsmMissing(): string | undefined {
  if (defaultPkcs11Library() === undefined) return 'the SoftHSM2 library is not installed';
  if (spawnSync('softhsm2-util', ['--version'], { stdio: 'ignore' }).status !== 0) return 'softhsm2-util is not installed';
  return undefined;
}

/** Makes the token and its master key under `dir`; returns the server's master-key settings. */
export function makeSoftHsmToken(dir: string): Record<string, string> {
  const tokenDir = path.join(dir, 'tokens');
  const conf = path.join(dir, 'softhsm2.conf');
  mkdirSync(tokenDir, { recursive: true });
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN_LABEL, '--pin', PIN, '--so-pin', 'bench-so-pin-1234'], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'ignore',
  });
  // SoftHSM reads SOFTHSM2_CONF at C_Initialize; ensureMasterKey finalises when done.
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  try {
    ensureMasterKey({ library: defaultPkcs11Library(), tokenLabel: TOKEN_LABEL, pin: PIN, keyLabel: 'keyhold-master' });
  } finally {
    if (previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previous;
  }
  return { SOFTHSM2_CONF: conf, KEYHOLD_MASTER: 'pkcs11', KEYHOLD_PKCS11_TOKEN_LABEL: TOKEN_LABEL, KEYHOLD_PKCS11_PIN: PIN };
}
