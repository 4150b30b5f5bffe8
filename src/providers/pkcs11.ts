import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { KeyholdConfig } from '../config.js';
import pkcs11js from 'pkcs11js';
import { ROOT_KEY_AAD } from '../crypto/index.js';
import { StartupError } from '../errors.js';
import type { MasterKeyDescriptor } from '../store/records.js';
import type { MasterKeyProvider } from './master-key.js';

/** Where Debian (and Ubuntu) install SoftHSM2's PKCS#11 library. */
export const SOFTHSM2_LIBRARY_PATHS = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
];

const GCM_IV_BYTES = 12;
const GCM_TAG_BITS = 128;

type Pkcs11Descriptor = Extract<MasterKeyDescriptor, { kind: 'pkcs11' }>;
type Mechanism = Pkcs11Descriptor['mechanism'];

export interface Pkcs11Options {
  /** Path of the PKCS#11 module; default: SoftHSM2 where installed. */
  library?: string;
  tokenLabel?: string;
  slot?: number;
  pin: string;
  keyLabel: string;
}

/** A CK_ULONG as pkcs11js returns it: little-endian bytes, 4 or 8 of them. */
function ulong(bytes: Buffer): number {
  return bytes.length === 8 ? Number(bytes.readBigUInt64LE()) : bytes.readUIntLE(0, bytes.length);
}

/** The PKCS#11 result name of an error thrown by pkcs11js, e.g. `CKR_PIN_INCORRECT`. */
function resultName(error: unknown): string | undefined {
  return /(CKR_[A-Z_]+)/.exec(String((error as Error)?.message ?? ''))?.[1];
}

/** The token PIN from KEYHOLD_PKCS11_PIN or KEYHOLD_PKCS11_PIN_FILE. */
export function loadPin(config: KeyholdConfig): string {
  const source = config.pkcs11.pin;
  if (!source) throw new StartupError('set KEYHOLD_PKCS11_PIN or KEYHOLD_PKCS11_PIN_FILE', 'KEYHOLD_PKCS11_PIN');
  return 'value' in source ? source.value : readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
}

export function defaultPkcs11Library(): string | undefined {
  return SOFTHSM2_LIBRARY_PATHS.find((candidate) => existsSync(candidate));
}

/**
 * The PKCS#11 master key: a non-extractable AES-256 secret key inside a token. The root
 * key is encrypted and decrypted by the token (CKM_AES_GCM where offered, else
 * CKM_AES_KEY_WRAP_PAD); the master key itself never leaves it.
 *
 * Every failure to reach the key is a StartupError naming the setting at fault; the PIN
 * never appears in a message.
 */
export class Pkcs11MasterKey implements MasterKeyProvider {
  readonly kind = 'pkcs11' as const;
  private closed = false;

  private constructor(
    private readonly module: pkcs11js.PKCS11,
    private readonly session: Buffer,
    private readonly key: Buffer,
    private readonly keyLabel: string,
    private readonly mechanisms: Set<number>,
  ) {}

  /** Loads the module, finds the token, logs in and finds the master key. */
  static open(options: Pkcs11Options): Pkcs11MasterKey {
    const { module, session, slot } = openSession(options);
    try {
      const key = findMasterKey(module, session, options.keyLabel);
      const mechanisms = new Set(module.C_GetMechanismList(slot));
      return new Pkcs11MasterKey(module, session, key, options.keyLabel, mechanisms);
    } catch (error) {
      closeQuietly(module, session);
      throw error;
    }
  }

  private preferredMechanism(): Mechanism {
    if (this.mechanisms.has(pkcs11js.CKM_AES_GCM)) return 'CKM_AES_GCM';
    if (this.mechanisms.has(pkcs11js.CKM_AES_KEY_WRAP_PAD)) return 'CKM_AES_KEY_WRAP_PAD';
    throw new StartupError('the token offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP_PAD', 'KEYHOLD_PKCS11_LIB');
  }

  async wrapRootKey(rootKey: Buffer): Promise<{ master: MasterKeyDescriptor; wrappedRootKey: Buffer }> {
    const mechanism = this.preferredMechanism();
    const master: Pkcs11Descriptor = { kind: 'pkcs11', keyLabel: this.keyLabel, mechanism };
    if (mechanism === 'CKM_AES_GCM') {
      const iv = randomBytes(GCM_IV_BYTES);
      this.module.C_EncryptInit(this.session, gcm(iv), this.key);
      const sealed = this.module.C_Encrypt(this.session, rootKey, Buffer.alloc(rootKey.length + GCM_TAG_BITS / 8));
      return { master, wrappedRootKey: Buffer.concat([iv, sealed]) };
    }
    this.module.C_EncryptInit(this.session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, this.key);
    return { master, wrappedRootKey: this.module.C_Encrypt(this.session, rootKey, Buffer.alloc(rootKey.length + 16)) };
  }

  async unwrapRootKey(master: MasterKeyDescriptor, wrappedRootKey: Buffer): Promise<Buffer> {
    if (master.kind !== 'pkcs11') {
      throw new StartupError(`this store's master key is ${master.kind}, but KEYHOLD_MASTER is pkcs11`, 'KEYHOLD_MASTER');
    }
    try {
      if (master.mechanism === 'CKM_AES_GCM') {
        if (wrappedRootKey.length <= GCM_IV_BYTES) throw new Error('CKR_ENCRYPTED_DATA_LEN_RANGE');
        this.module.C_DecryptInit(this.session, gcm(wrappedRootKey.subarray(0, GCM_IV_BYTES)), this.key);
        const body = wrappedRootKey.subarray(GCM_IV_BYTES);
        return Buffer.from(this.module.C_Decrypt(this.session, body, Buffer.alloc(body.length)));
      }
      this.module.C_DecryptInit(this.session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, this.key);
      return Buffer.from(this.module.C_Decrypt(this.session, wrappedRootKey, Buffer.alloc(wrappedRootKey.length)));
    } catch (error) {
      // SoftHSM reports a failed GCM tag as CKR_GENERAL_ERROR: any failure here means
      // this token key does not unwrap this store's root key.
      throw new StartupError(
        `the token key '${this.keyLabel}' does not unwrap this store's root key (${resultName(error) ?? 'decryption failed'}); nothing was changed`,
        'KEYHOLD_PKCS11_KEY_LABEL',
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeQuietly(this.module, this.session);
  }
}

/**
 * Creates the master key on a token if no key with that label exists (idempotent): AES-256,
 * sensitive, never extractable, able to encrypt/decrypt and wrap/unwrap.
 */
export function ensureMasterKey(options: Pkcs11Options): 'created' | 'exists' {
  const { module, session } = openSession(options);
  try {
    if (findKeys(module, session, options.keyLabel).length > 0) return 'exists';
    module.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_LABEL, value: options.keyLabel },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
    ]);
    return 'created';
  } finally {
    closeQuietly(module, session);
  }
}

function gcm(iv: Buffer): pkcs11js.Mechanism {
  return {
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad: Buffer.from(ROOT_KEY_AAD), tagBits: GCM_TAG_BITS },
  } as pkcs11js.Mechanism;
}

function openSession(options: Pkcs11Options): { module: pkcs11js.PKCS11; session: Buffer; slot: Buffer } {
  const library = options.library ?? defaultPkcs11Library();
  if (!library) {
    throw new StartupError('not set, and no SoftHSM2 library was found (apt-get install softhsm2)', 'KEYHOLD_PKCS11_LIB');
  }
  const module = new pkcs11js.PKCS11();
  try {
    module.load(library);
  } catch {
    throw new StartupError(`cannot load the PKCS#11 library ${library}`, 'KEYHOLD_PKCS11_LIB');
  }
  try {
    module.C_Initialize();
  } catch (error) {
    // A second provider in one process (tests, rekey) finds the library initialised.
    if (resultName(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw new StartupError(
        `the PKCS#11 library ${library} failed to initialise (${resultName(error) ?? 'error'}; for SoftHSM2 check SOFTHSM2_CONF)`,
        'KEYHOLD_PKCS11_LIB',
      );
    }
  }
  let session: Buffer | undefined;
  try {
    const slot = findSlot(module, options);
    // Checked before trying the PIN: on a real token a retry can use up the last attempt.
    if ((module.C_GetTokenInfo(slot).flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0) {
      throw lockedPin();
    }
    session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    login(module, session, options.pin);
    return { module, session, slot };
  } catch (error) {
    closeQuietly(module, session);
    throw error;
  }
}

function findSlot(module: pkcs11js.PKCS11, options: Pkcs11Options): Buffer {
  const slots = module.C_GetSlotList(true);
  const tokens = slots
    .map((slot) => ({ slot, id: ulong(slot), info: module.C_GetTokenInfo(slot) }))
    .filter((token) => (token.info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0)
    .map((token) => ({ slot: token.slot, id: token.id, label: token.info.label.trim() }));
  if (options.tokenLabel !== undefined) {
    const found = tokens.filter((token) => token.label === options.tokenLabel);
    if (found.length === 0) {
      const labels = tokens.map((token) => `'${token.label}'`).join(', ') || 'none';
      throw new StartupError(`no token labelled '${options.tokenLabel}' (tokens present: ${labels})`, 'KEYHOLD_PKCS11_TOKEN_LABEL');
    }
    if (found.length > 1) {
      throw new StartupError(`more than one token is labelled '${options.tokenLabel}'; use KEYHOLD_PKCS11_SLOT`, 'KEYHOLD_PKCS11_TOKEN_LABEL');
    }
    return found[0]!.slot;
  }
  if (options.slot !== undefined) {
    const found = tokens.find((token) => token.id === options.slot);
    if (!found) {
      const ids = tokens.map((token) => token.id).join(', ') || 'none';
      throw new StartupError(`no token in slot ${options.slot} (slots with tokens: ${ids})`, 'KEYHOLD_PKCS11_SLOT');
    }
    return found.slot;
  }
  throw new StartupError('set KEYHOLD_PKCS11_TOKEN_LABEL (or KEYHOLD_PKCS11_SLOT) to choose the token', 'KEYHOLD_PKCS11_TOKEN_LABEL');
}

function login(module: pkcs11js.PKCS11, session: Buffer, pin: string): void {
  try {
    module.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (error) {
    const name = resultName(error);
    if (name === 'CKR_USER_ALREADY_LOGGED_IN') return;
    if (name === 'CKR_PIN_INCORRECT') throw new StartupError('wrong PIN for the token', 'KEYHOLD_PKCS11_PIN');
    if (name === 'CKR_PIN_LOCKED') throw lockedPin();
    throw new StartupError(`cannot log in to the token (${name ?? 'error'})`, 'KEYHOLD_PKCS11_PIN');
  }
}

function lockedPin(): StartupError {
  return new StartupError('the token user PIN is locked (too many wrong PINs); the security officer must unlock it', 'KEYHOLD_PKCS11_PIN');
}

function findKeys(module: pkcs11js.PKCS11, session: Buffer, label: string): Buffer[] {
  module.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  try {
    return module.C_FindObjects(session, 2);
  } finally {
    module.C_FindObjectsFinal(session);
  }
}

function findMasterKey(module: pkcs11js.PKCS11, session: Buffer, label: string): Buffer {
  const keys = findKeys(module, session, label);
  if (keys.length === 0) {
    throw new StartupError(`no secret key labelled '${label}' on the token (npm run softhsm:setup makes one)`, 'KEYHOLD_PKCS11_KEY_LABEL');
  }
  if (keys.length > 1) throw new StartupError(`more than one secret key is labelled '${label}'`, 'KEYHOLD_PKCS11_KEY_LABEL');
  const key = keys[0]!;
  const [type, length, sensitive, extractable] = module.C_GetAttributeValue(session, key, [
    { type: pkcs11js.CKA_KEY_TYPE },
    { type: pkcs11js.CKA_VALUE_LEN },
    { type: pkcs11js.CKA_SENSITIVE },
    { type: pkcs11js.CKA_EXTRACTABLE },
  ]);
  /* Precondition: the master key is AES-256, sensitive and not extractable. */
  const isAes = ulong(type!.value as Buffer) === pkcs11js.CKK_AES;
  const is256 = ulong(length!.value as Buffer) === 32;
  if (!isAes || !is256 || !(sensitive!.value as Buffer)[0] || (extractable!.value as Buffer)[0]) {
    throw new StartupError(
      `the key '${label}' must be an AES-256 key with CKA_SENSITIVE true and CKA_EXTRACTABLE false`,
      'KEYHOLD_PKCS11_KEY_LABEL',
    );
  }
  return key;
}

function closeQuietly(module: pkcs11js.PKCS11, session: Buffer | undefined): void {
  // Best effort: a removed token or a library already finalised must not stop shutdown.
  for (const step of [
    () => session && module.C_Logout(session),
    () => session && module.C_CloseSession(session),
    () => module.C_Finalize(),
  ]) {
    try {
      step();
    } catch {
      /* ignored */
    }
  }
}
