import { randomBytes } from 'node:crypto';
import { credentialSecretAad, unwrapKey, wrapKey } from '../crypto/index.js';
import type { Principal } from '../auth/principal.js';
import type { Store } from '../store/store.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `KH` + 18 base32 characters (90 random bits): recognisable, never confusable with a secret. */
function newAccessKeyId(): string {
  // 256 is a multiple of 32, so `byte % 32` is unbiased.
  return 'KH' + [...randomBytes(18)].map((byte) => BASE32[byte % 32]).join('');
}

export interface LoadedCredential {
  secretKey: Buffer;
  principal: Principal;
}

/**
 * API credentials: access key id + 32-byte secret. Secrets are stored wrapped by the root
 * key and held unwrapped in memory, so verifying a request reads nothing from disk.
 */
export class CredentialService {
  private readonly credentials = new Map<string, LoadedCredential>();

  private constructor(
    private readonly store: Store,
    private readonly rootKey: Buffer,
  ) {}

  static async load(store: Store, rootKey: Buffer): Promise<CredentialService> {
    const service = new CredentialService(store, rootKey);
    for (const record of await store.listCredentials()) {
      const secretKey = unwrapKey(rootKey, Buffer.from(record.wrappedSecret, 'base64'), credentialSecretAad(record.accessKeyId));
      service.credentials.set(record.accessKeyId, {
        secretKey,
        principal: { accessKeyId: record.accessKeyId, admin: record.admin },
      });
    }
    return service;
  }

  get size(): number {
    return this.credentials.size;
  }

  lookup(accessKeyId: string): LoadedCredential | undefined {
    return this.credentials.get(accessKeyId);
  }

  /**
   * Creates a credential (or commits `existing`); the secret is returned once and stored only wrapped.
   * `beforeCommit` runs before the credential is written (e.g. to hand the secret over).
   */
  async create(
    options: { admin: boolean; description: string; principal: string; existing?: { accessKeyId: string; secretKey: Buffer } },
    now: Date = new Date(),
    beforeCommit?: (credential: { accessKeyId: string; secretKey: Buffer }) => void,
  ): Promise<{ accessKeyId: string; secretKey: Buffer }> {
    // `existing`: a credential handed out before it was committed (see startServer).
    const accessKeyId = options.existing?.accessKeyId ?? newAccessKeyId();
    const secretKey = options.existing?.secretKey ?? randomBytes(32);
    beforeCommit?.({ accessKeyId, secretKey });
    const wrappedSecret = wrapKey(this.rootKey, secretKey, credentialSecretAad(accessKeyId)) as Buffer;
    await this.store.write(
      this.store
        .batch()
        .putCredential({
          accessKeyId,
          wrappedSecret: wrappedSecret.toString('base64'),
          admin: options.admin,
          description: options.description,
          createdAt: now.toISOString(),
        })
        .auditChange({ principal: options.principal }, { action: 'CreateCredential', detail: { AccessKeyId: accessKeyId } }, now),
    );
    this.credentials.set(accessKeyId, { secretKey, principal: { accessKeyId, admin: options.admin } });
    return { accessKeyId, secretKey };
  }
}
