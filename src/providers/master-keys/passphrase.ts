import { pbkdf2, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import argon2 from 'argon2';
import type { KdfAlgorithm, KeyholdConfig } from '../../config.js';
import { DecryptionFailedError, ROOT_KEY_AAD, unwrapKey, wrapKey } from '../../crypto/index.js';
import { writeFileDurably } from '../../durable-file.js';
import { StartupError } from '../../errors.js';
import type { MasterKeyDescriptor } from '../../store/records.js';
import type { MasterKeyProvider } from './master-key.js';

const pbkdf2Async = promisify(pbkdf2);

/** OWASP's 2023 figure for PBKDF2-HMAC-SHA256, and the floor of docs/design.md. */
export const PBKDF2_ITERATIONS = 600_000;
/** The floor of docs/design.md for argon2id: m >= 64 MiB, t >= 3. */
export const ARGON2ID_PARAMETERS = { memoryKiB: 65_536, timeCost: 3, parallelism: 1 } as const;
export const MINIMUM_PASSPHRASE_LENGTH = 12;
/** The salt newDescriptor makes, and the least a store may record. */
const SALT_BYTES = 16;
const DEV_PASSPHRASE_FILE = 'dev-passphrase';

type PassphraseDescriptor = Extract<MasterKeyDescriptor, { kind: 'passphrase' }>;

/** Where the passphrase came from: named in every error so the operator knows what to fix. */
export interface Passphrase {
  value: string;
  /** The variable or file to name in an error message. */
  source: string;
}

/**
 * Finds the passphrase: KEYHOLD_PASSPHRASE, KEYHOLD_PASSPHRASE_FILE, or in development a
 * random one kept in `<data dir>/dev-passphrase` (0600). Production without one refuses.
 */
export function loadPassphrase(config: KeyholdConfig, warn: (message: string) => void): Passphrase {
  let passphrase: Passphrase;
  if (config.passphrase && 'value' in config.passphrase) {
    passphrase = { value: config.passphrase.value, source: 'KEYHOLD_PASSPHRASE' };
  } else if (config.passphrase && 'file' in config.passphrase) {
    const value = readFileSync(config.passphrase.file, 'utf8').replace(/\r?\n$/, '');
    passphrase = { value, source: 'KEYHOLD_PASSPHRASE_FILE' };
  } else if (config.production) {
    throw new StartupError(
      'no passphrase: with NODE_ENV=production set KEYHOLD_PASSPHRASE or KEYHOLD_PASSPHRASE_FILE',
      'KEYHOLD_PASSPHRASE',
    );
  } else {
    const file = path.join(config.dataDir, DEV_PASSPHRASE_FILE);
    if (!existsSync(file)) {
      // On disk before any root key is wrapped under it: a power cut must not leave a store
      // whose passphrase was lost. The first writer wins if two starts race.
      writeFileDurably(file, randomBytes(32).toString('base64url') + '\n', { exclusive: true });
    }
    chmodSync(file, 0o600);
    warn(
      `DEVELOPMENT MODE: no passphrase configured; using the generated one in ${file}. ` +
        'Anyone who can read that file can unwrap every key. Set KEYHOLD_PASSPHRASE_FILE for real use.',
    );
    passphrase = { value: readFileSync(file, 'utf8').trim(), source: file };
  }
  // Counted in Unicode characters, not UTF-16 code units: an emoji is one character.
  if ([...passphrase.value].length < MINIMUM_PASSPHRASE_LENGTH) {
    throw new StartupError(`the passphrase must be at least ${MINIMUM_PASSPHRASE_LENGTH} characters`, passphrase.source);
  }
  return passphrase;
}

/**
 * Refuses KDF parameters below those Keyhold makes stores with. They are read from the store:
 * someone who can write the data directory but knows no passphrase could otherwise re-wrap a
 * root key of their own under a cheap KDF, or make guessing a passphrase cheap for the next
 * rekey. Nothing is derived before this check.
 */
export function refuseWeakKdf(master: PassphraseDescriptor): void {
  const weak =
    master.kdf === 'pbkdf2-sha256'
      ? !(master.iterations >= PBKDF2_ITERATIONS)
      : !(master.memoryKiB >= ARGON2ID_PARAMETERS.memoryKiB && master.timeCost >= ARGON2ID_PARAMETERS.timeCost && master.parallelism >= ARGON2ID_PARAMETERS.parallelism);
  /* Precondition: the stored KDF parameters and salt are at least the ones new stores get. */
  if (weak || !(Buffer.from(String(master.salt), 'base64').length >= SALT_BYTES)) {
    const floor =
      master.kdf === 'pbkdf2-sha256'
        ? `${PBKDF2_ITERATIONS} PBKDF2 iterations`
        : `argon2id with ${ARGON2ID_PARAMETERS.memoryKiB} KiB, ${ARGON2ID_PARAMETERS.timeCost} passes`;
    throw new StartupError(
      `the store's root-key record asks for a KDF weaker than Keyhold's minimum (${floor}, a ${SALT_BYTES}-byte salt): ` +
        'refusing to open it; restore the store from a backup',
      'KEYHOLD_DATA_DIR',
    );
  }
}

/** Derives the 32-byte KEK from the passphrase with the stored (or new) parameters. */
async function deriveKek(passphrase: string, master: PassphraseDescriptor): Promise<Buffer> {
  const salt = Buffer.from(master.salt, 'base64');
  if (master.kdf === 'pbkdf2-sha256') {
    return pbkdf2Async(passphrase, salt, master.iterations, 32, 'sha256');
  }
  return argon2.hash(passphrase, {
    type: argon2.argon2id,
    salt,
    memoryCost: master.memoryKiB,
    timeCost: master.timeCost,
    parallelism: master.parallelism,
    hashLength: 32,
    raw: true,
  });
}

function newDescriptor(kdf: KdfAlgorithm): PassphraseDescriptor {
  const salt = randomBytes(SALT_BYTES).toString('base64');
  return kdf === 'argon2id'
    ? { kind: 'passphrase', kdf: 'argon2id', ...ARGON2ID_PARAMETERS, salt }
    : { kind: 'passphrase', kdf: 'pbkdf2-sha256', iterations: PBKDF2_ITERATIONS, salt };
}

/**
 * The passphrase master key: KEK = PBKDF2-HMAC-SHA256 or argon2id over the passphrase,
 * with a random 16-byte salt; the root key is wrapped under it with AES-256-GCM.
 */
export class PassphraseMasterKey implements MasterKeyProvider {
  readonly kind = 'passphrase' as const;

  constructor(
    private readonly passphrase: Passphrase,
    private readonly kdf: KdfAlgorithm,
  ) {}

  async wrapRootKey(rootKey: Buffer) {
    const master = newDescriptor(this.kdf);
    const kek = await deriveKek(this.passphrase.value, master);
    try {
      return { master, wrappedRootKey: wrapKey(kek, rootKey, ROOT_KEY_AAD) as Buffer };
    } finally {
      kek.fill(0);
    }
  }

  async unwrapRootKey(master: MasterKeyDescriptor, wrappedRootKey: Buffer): Promise<Buffer> {
    if (master.kind !== 'passphrase') {
      throw new StartupError(
        `this store's master key is ${master.kind}, but KEYHOLD_MASTER is passphrase`,
        'KEYHOLD_MASTER',
      );
    }
    refuseWeakKdf(master);
    const kek = await deriveKek(this.passphrase.value, master);
    try {
      return unwrapKey(kek, wrappedRootKey, ROOT_KEY_AAD);
    } catch (error) {
      if (error instanceof DecryptionFailedError) {
        throw new StartupError(
          "wrong passphrase: it does not unwrap this store's root key (nothing was changed)",
          this.passphrase.source,
        );
      }
      throw error;
    } finally {
      kek.fill(0);
    }
  }

  async close(): Promise<void> {}
}
