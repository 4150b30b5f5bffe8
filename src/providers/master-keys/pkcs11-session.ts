import { existsSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import { StartupError } from '../../errors.js';

/** Where Debian (and Ubuntu) install SoftHSM2's PKCS#11 library. */
export const SOFTHSM2_LIBRARY_PATHS = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
];

export interface TokenOptions {
  /** Path of the PKCS#11 module; default: SoftHSM2 where installed. */
  library?: string;
  tokenLabel?: string;
  slot?: number;
  pin: string;
}

/** A logged-in session on one token. `close()` logs out and releases the library. */
export interface TokenSession {
  module: pkcs11js.PKCS11;
  session: Buffer;
  slot: Buffer;
  close(): void;
}

/** A CK_ULONG as pkcs11js returns it: little-endian bytes, 4 or 8 of them. */
export function ulong(bytes: Buffer): number {
  return bytes.length === 8 ? Number(bytes.readBigUInt64LE()) : bytes.readUIntLE(0, bytes.length);
}

/** The PKCS#11 result name of an error thrown by pkcs11js, e.g. `CKR_PIN_INCORRECT`. */
export function resultName(error: unknown): string | undefined {
  return /(CKR_[A-Z_]+)/.exec(String((error as Error)?.message ?? ''))?.[1];
}

export function defaultPkcs11Library(): string | undefined {
  return SOFTHSM2_LIBRARY_PATHS.find((candidate) => existsSync(candidate));
}

// C_Initialize is once per process and C_Finalize ends every session of the library, so
// the library is shared by reference count: two providers (a rekey) can be open at once.
const libraries = new Map<string, { module: pkcs11js.PKCS11; users: number }>();

function acquireLibrary(library: string): pkcs11js.PKCS11 {
  const loaded = libraries.get(library);
  if (loaded) {
    loaded.users++;
    return loaded.module;
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
    if (resultName(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw new StartupError(
        `the PKCS#11 library ${library} failed to initialise (${resultName(error) ?? 'error'}; for SoftHSM2 check SOFTHSM2_CONF)`,
        'KEYHOLD_PKCS11_LIB',
      );
    }
  }
  libraries.set(library, { module, users: 1 });
  return module;
}

function releaseLibrary(library: string): void {
  const loaded = libraries.get(library);
  if (!loaded || --loaded.users > 0) return;
  libraries.delete(library);
  try {
    loaded.module.C_Finalize();
  } catch {
    /* a removed token or a library already finalised must not stop shutdown */
  }
}

/** Loads the library, finds the token, opens a session and logs in as the user. */
export function openTokenSession(options: TokenOptions): TokenSession {
  const library = options.library ?? defaultPkcs11Library();
  if (!library) {
    throw new StartupError('not set, and no SoftHSM2 library was found (apt-get install softhsm2)', 'KEYHOLD_PKCS11_LIB');
  }
  const module = acquireLibrary(library);
  let session: Buffer | undefined;
  const close = () => {
    for (const step of [() => session && module.C_Logout(session), () => session && module.C_CloseSession(session)]) {
      try {
        step();
      } catch {
        /* best effort: the token may be gone, or another session already logged out */
      }
    }
    releaseLibrary(library);
  };
  try {
    const slot = findSlot(module, options);
    // Checked before trying the PIN: on a real token a retry can use up the last attempt.
    const flags = module.C_GetTokenInfo(slot).flags;
    if ((flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0) throw lockedPin();
    /* Precondition: the token does not say that one more wrong PIN locks it. */
    if ((flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) !== 0) throw finalTry();
    session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    login(module, session, options.pin);
    return { module, session, slot, close };
  } catch (error) {
    close();
    throw error;
  }
}

function findSlot(module: pkcs11js.PKCS11, options: TokenOptions): Buffer {
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

function finalTry(): StartupError {
  return new StartupError(
    'the token says one more wrong user PIN locks it (CKF_USER_PIN_FINAL_TRY), so Keyhold does not try one; ' +
      'check the PIN with the token vendor\'s tool (a right PIN clears the flag) or have the security officer reset it',
    'KEYHOLD_PKCS11_PIN',
  );
}

function lockedPin(): StartupError {
  return new StartupError('the token user PIN is locked (too many wrong PINs); the security officer must unlock it', 'KEYHOLD_PKCS11_PIN');
}

/** Secret keys on the token with this label (at most two: enough to tell 'ambiguous'). */
export function findKeys(module: pkcs11js.PKCS11, session: Buffer, label: string): Buffer[] {
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
