import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import type { KeyholdConfig } from '../../config.js';
import { ROOT_KEY_AAD } from '../../crypto/index.js';
import { StartupError } from '../../errors.js';
import type { MasterKeyDescriptor } from '../../store/records.js';
import type { MasterKeyProvider } from './master-key.js';
import { findKeys, openTokenSession, resultName, ulong, type TokenOptions, type TokenSession } from './pkcs11-session.js';

export { defaultPkcs11Library, SOFTHSM2_LIBRARY_PATHS } from './pkcs11-session.js';

const GCM_IV_BYTES = 12;
const GCM_TAG_BITS = 128;

type Pkcs11Descriptor = Extract<MasterKeyDescriptor, { kind: 'pkcs11' }>;
type Mechanism = Pkcs11Descriptor['mechanism'];

export interface Pkcs11Options extends TokenOptions {
  keyLabel: string;
  /** Forces a wrapping mechanism; by default CKM_AES_GCM where the token offers it. */
  mechanism?: Mechanism;
}

/** The token PIN from KEYHOLD_PKCS11_PIN or KEYHOLD_PKCS11_PIN_FILE. */
export function loadPin(config: KeyholdConfig): string {
  const source = config.pkcs11.pin;
  if (!source) throw new StartupError('set KEYHOLD_PKCS11_PIN or KEYHOLD_PKCS11_PIN_FILE', 'KEYHOLD_PKCS11_PIN');
  return 'value' in source ? source.value : readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
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
    private readonly token: TokenSession,
    private readonly key: Buffer,
    private readonly keyLabel: string,
    private readonly mechanisms: Set<number>,
    private readonly forcedMechanism: Mechanism | undefined,
  ) {}

  /** Loads the module, finds the token, logs in and finds the master key. */
  static open(options: Pkcs11Options): Pkcs11MasterKey {
    const token = openTokenSession(options);
    try {
      const key = findMasterKey(token, options.keyLabel);
      return new Pkcs11MasterKey(token, key, options.keyLabel, new Set(token.module.C_GetMechanismList(token.slot)), options.mechanism);
    } catch (error) {
      token.close();
      throw error;
    }
  }

  private preferredMechanism(): Mechanism {
    if (this.forcedMechanism) return this.forcedMechanism;
    if (this.mechanisms.has(pkcs11js.CKM_AES_GCM)) return 'CKM_AES_GCM';
    if (this.mechanisms.has(pkcs11js.CKM_AES_KEY_WRAP_PAD)) return 'CKM_AES_KEY_WRAP_PAD';
    throw new StartupError('the token offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP_PAD', 'KEYHOLD_PKCS11_LIB');
  }

  async wrapRootKey(rootKey: Buffer): Promise<{ master: MasterKeyDescriptor; wrappedRootKey: Buffer }> {
    const { module, session } = this.token;
    const mechanism = this.preferredMechanism();
    const master: Pkcs11Descriptor = { kind: 'pkcs11', keyLabel: this.keyLabel, mechanism };
    if (mechanism === 'CKM_AES_GCM') {
      const iv = randomBytes(GCM_IV_BYTES);
      module.C_EncryptInit(session, gcm(iv), this.key);
      const sealed = module.C_Encrypt(session, rootKey, Buffer.alloc(rootKey.length + GCM_TAG_BITS / 8));
      return { master, wrappedRootKey: Buffer.concat([iv, sealed]) };
    }
    // Key wrap is a wrap/unwrap mechanism, not an encryption one: the root key enters the
    // token as a short-lived session object and is wrapped by C_WrapKey.
    const object = module.C_CreateObject(session, rootKeyTemplate([{ type: pkcs11js.CKA_VALUE, value: rootKey }]));
    try {
      const wrapped = module.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, this.key, object, Buffer.alloc(rootKey.length + 16));
      return { master, wrappedRootKey: Buffer.from(wrapped) };
    } finally {
      module.C_DestroyObject(session, object);
    }
  }

  async unwrapRootKey(master: MasterKeyDescriptor, wrappedRootKey: Buffer): Promise<Buffer> {
    if (master.kind !== 'pkcs11') {
      throw new StartupError(`this store's master key is ${master.kind}, but KEYHOLD_MASTER is pkcs11`, 'KEYHOLD_MASTER');
    }
    const { module, session } = this.token;
    try {
      if (master.mechanism === 'CKM_AES_GCM') {
        if (wrappedRootKey.length <= GCM_IV_BYTES) throw new Error('CKR_ENCRYPTED_DATA_LEN_RANGE');
        module.C_DecryptInit(session, gcm(wrappedRootKey.subarray(0, GCM_IV_BYTES)), this.key);
        const body = wrappedRootKey.subarray(GCM_IV_BYTES);
        return Buffer.from(module.C_Decrypt(session, body, Buffer.alloc(body.length)));
      }
      const object = module.C_UnwrapKey(
        session,
        { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
        this.key,
        wrappedRootKey,
        rootKeyTemplate([]),
      );
      try {
        const [value] = module.C_GetAttributeValue(session, object, [{ type: pkcs11js.CKA_VALUE }]);
        return Buffer.from(value!.value as Buffer);
      } finally {
        module.C_DestroyObject(session, object);
      }
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
    this.token.close();
  }
}

/**
 * Creates the master key on a token if no key with that label exists (idempotent): AES-256,
 * sensitive, never extractable, able to encrypt/decrypt and wrap/unwrap.
 */
export function ensureMasterKey(options: Pkcs11Options): 'created' | 'exists' {
  const token = openTokenSession(options);
  try {
    if (findKeys(token.module, token.session, options.keyLabel).length > 0) return 'exists';
    token.module.C_GenerateKey(token.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
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
    token.close();
  }
}

/**
 * A session object (gone when the session ends) holding the root key on its way into or
 * out of the token for CKM_AES_KEY_WRAP_PAD; the root key is used in memory anyway.
 */
function rootKeyTemplate(extra: pkcs11js.Template): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: false },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    ...extra,
  ];
}

function gcm(iv: Buffer): pkcs11js.Mechanism {
  return {
    mechanism: pkcs11js.CKM_AES_GCM,
    parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad: Buffer.from(ROOT_KEY_AAD), tagBits: GCM_TAG_BITS },
  } as pkcs11js.Mechanism;
}

function findMasterKey(token: TokenSession, label: string): Buffer {
  const keys = findKeys(token.module, token.session, label);
  if (keys.length === 0) {
    throw new StartupError(`no secret key labelled '${label}' on the token (npm run softhsm:setup makes one)`, 'KEYHOLD_PKCS11_KEY_LABEL');
  }
  if (keys.length > 1) throw new StartupError(`more than one secret key is labelled '${label}'`, 'KEYHOLD_PKCS11_KEY_LABEL');
  const key = keys[0]!;
  const [type, length, sensitive, extractable, alwaysSensitive, neverExtractable] = token.module.C_GetAttributeValue(token.session, key, [
    { type: pkcs11js.CKA_KEY_TYPE },
    { type: pkcs11js.CKA_VALUE_LEN },
    { type: pkcs11js.CKA_SENSITIVE },
    { type: pkcs11js.CKA_EXTRACTABLE },
    { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
    { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
  ]);
  /* Precondition: the master key is AES-256, sensitive and not extractable. */
  const isAes = ulong(type!.value as Buffer) === pkcs11js.CKK_AES;
  const is256 = ulong(length!.value as Buffer) === 32;
  if (!isAes || !is256 || !isTrue(sensitive!.value) || isTrue(extractable!.value)) {
    throw new StartupError(
      `the key '${label}' must be an AES-256 key with CKA_SENSITIVE true and CKA_EXTRACTABLE false`,
      'KEYHOLD_PKCS11_KEY_LABEL',
    );
  }
  /* Precondition: the master key was never extractable and always sensitive. */
  // Both can be turned off later but never on again: a key once readable may have been copied
  // out before, and then it is not only in the token.
  if (!isTrue(alwaysSensitive!.value) || !isTrue(neverExtractable!.value)) {
    throw new StartupError(
      `the key '${label}' was once extractable or not sensitive (CKA_NEVER_EXTRACTABLE and CKA_ALWAYS_SENSITIVE must be true): ` +
        'it may exist outside the token; make a new master key on the token and move the store to it with keyhold admin rekey',
      'KEYHOLD_PKCS11_KEY_LABEL',
    );
  }
  return key;
}

/** A CK_BBOOL as pkcs11js returns it: one byte, true when not 0. */
function isTrue(value: unknown): boolean {
  return Buffer.isBuffer(value) && value.length > 0 && value[0] !== 0;
}
