import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { verifyAuditTrail, type TrailVerdict } from '../audit/verify-trail.js';
import { compilePolicy } from '../auth/policy.js';
import type { KeyholdConfig } from '../config.js';
import { writeFileDurably } from '../durable-file.js';
import { KmsError, StartupError } from '../errors.js';
import { CredentialService } from '../kms/credential-service.js';
import { unwrapRootKeyRecord } from '../kms/root-key.js';
import { createMasterKeyProvider } from '../providers/master-keys/index.js';
import { urlHost } from '../runtime/listen.js';
import { loadTlsMaterial } from '../runtime/tls.js';
import type { Store } from '../store/store.js';
import type { AdminCredentialsFile } from './admin-credentials.js';

/** The principal offline admin commands write into the audit trail. */
export const OFFLINE_ADMIN = 'keyhold-admin-offline';

/**
 * Runs `work` with the store's root key, unwrapped with the configured master key (the
 * settings a server start uses), and the audit chain ready: for the offline admin commands.
 */
async function withRootKey<T>(config: KeyholdConfig, store: Store, warn: (message: string) => void, work: (rootKey: Buffer) => Promise<T>): Promise<T> {
  const record = await store.getRootKeyRecord();
  if (!record) throw new StartupError(`no Keyhold store in ${config.dataDir} (start the server once to create one)`, 'KEYHOLD_DATA_DIR');
  const provider = createMasterKeyProvider(config, warn);
  let rootKey: Buffer | undefined;
  try {
    rootKey = await unwrapRootKeyRecord(record, provider);
    await store.useAuditKey(rootKey);
    return await work(rootKey);
  } finally {
    rootKey?.fill(0);
    await provider.close();
  }
}

/** `keyhold admin audit verify`: the whole trail checked with the audit key (see verifyAuditTrail). */
export function verifyTrailOffline(config: KeyholdConfig, store: Store, warn: (message: string) => void): Promise<TrailVerdict> {
  return withRootKey(config, store, warn, (rootKey) => verifyAuditTrail(store, rootKey, config.dataDir, config.storeUrl !== undefined));
}

/**
 * `keyhold admin credentials create`: the way back in when every admin credential is lost
 * (the server stopped, the master-key settings at hand). Audited as the offline admin. The
 * credential is written as a credentials file (0600, never over an existing file) or, without
 * `out`, returned for the caller to print once.
 */
export async function createCredentialOffline(
  config: KeyholdConfig,
  store: Store,
  options: { admin: boolean; policyFile?: string; description?: string; out?: string },
  warn: (message: string) => void,
): Promise<{ file?: string; contents: AdminCredentialsFile }> {
  let policy: object | undefined;
  if (!options.admin) {
    if (options.policyFile === undefined) throw new StartupError('give --admin or --policy-file FILE', 'credentials create');
    try {
      policy = compilePolicy(readFileSync(options.policyFile, 'utf8')).document;
    } catch (error) {
      throw new StartupError(error instanceof KmsError ? error.message : `cannot read ${options.policyFile}`, '--policy-file');
    }
  }
  // Checked first: a credential whose secret could not be written would be lost at once.
  if (options.out !== undefined && existsSync(options.out)) throw new StartupError(`${path.resolve(options.out)} exists; choose another file`, '--out');
  const tls = await loadTlsMaterial(config);
  return withRootKey(config, store, warn, async (rootKey) => {
    const credentials = await CredentialService.load(store, rootKey);
    const { accessKeyId, secretKey } = await credentials.add({
      admin: options.admin,
      description: options.description ?? (options.admin ? 'admin (made offline)' : 'made offline'),
      principal: OFFLINE_ADMIN,
      ...(policy ? { policy } : {}),
    });
    const contents: AdminCredentialsFile = {
      AccessKeyId: accessKeyId,
      SecretKey: secretKey.toString('base64'),
      Url: `https://${urlHost(config.host)}:${config.port}`,
      CertSha256: tls.certSha256,
    };
    secretKey.fill(0);
    if (options.out === undefined) return { contents };
    const file = path.resolve(options.out);
    if (!writeFileDurably(file, JSON.stringify(contents, null, 2) + '\n', { exclusive: true })) {
      throw new StartupError(`${file} exists; the credential ${accessKeyId} was made but its secret is shown only now`, '--out');
    }
    return { file, contents };
  });
}
