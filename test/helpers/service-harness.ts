import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import { ReplayMemory } from '../../src/auth/replay-guard.js';
import { compilePolicy } from '../../src/auth/policy.js';
import { createApp, type RequestListener } from '../../src/api/app.js';
import { signRequest } from '../../src/protocol/signing.js';
import { CredentialService } from '../../src/kms/credential-service.js';
import { KeyService } from '../../src/kms/key-service.js';
import { openRootKey } from '../../src/kms/root-key.js';
import { PassphraseMasterKey } from '../../src/providers/master-keys/passphrase.js';
import type { RemoteKeyProviders } from '../../src/providers/remote-keys/remote-key-provider.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { captureLogger } from './log-capture.js';
import { rememberSecret } from './secrets.js';
import { makeTempDir } from './temp-dir.js';

export const TEST_PASSPHRASE = 'correct horse battery staple (test)';

export interface Harness {
  app: RequestListener;
  store: LevelDbStore;
  keyService: KeyService;
  credentials: CredentialService;
  audit: AuditTrail;
  /** The store's root key (for checks that need the audit key). */
  rootKey: Buffer;
  credential: { accessKeyId: string; secretKey: Buffer };
  dataDir: string;
  /** A signed POST to `path` (e.g. '/api/v1/kms/encrypt') with a JSON or raw body. */
  post(path: string, body?: unknown, options?: { now?: Date; credential?: { accessKeyId: string; secretKey: Buffer } }): request.Test;
  /** A signed POST to an action under /api/v1/kms. */
  call(action: string, body?: unknown): request.Test;
  close(): Promise<void>;
}

/**
 * The real service (LevelDB in a temp dir, passphrase master key, KeyService, signed API)
 * behind the app's request listener, for supertest. Nothing is mocked.
 */
export async function openHarness(
  options: { goKmsAuthKey?: string; goKmsPolicy?: object; clock?: () => Date; remoteProviders?: RemoteKeyProviders } = {},
): Promise<Harness> {
  rememberSecret(TEST_PASSPHRASE);
  const dir = makeTempDir();
  const store = await LevelDbStore.open(dir.path);
  const provider = new PassphraseMasterKey({ value: TEST_PASSPHRASE, source: 'KEYHOLD_PASSPHRASE' }, 'pbkdf2');
  const { rootKey } = await openRootKey(store, provider);
  const keyService = new KeyService({ store, rootKey, clock: options.clock, remoteProviders: options.remoteProviders });
  const credentials = await CredentialService.load(store, rootKey);
  const credential = await credentials.add({ admin: true, description: 'test admin', principal: 'test' });
  rememberSecret(credential.secretKey);
  const audit = new AuditTrail(store);
  const app = createApp({
    keyService,
    credentials,
    audit,
    replay: new ReplayMemory(),
    logger: captureLogger(),
    goKmsAuthKey: options.goKmsAuthKey === undefined ? undefined : Buffer.from(options.goKmsAuthKey),
    goKmsPolicy: options.goKmsPolicy === undefined ? undefined : compilePolicy(options.goKmsPolicy),
    isHealthy: () => store.isOpen,
    clock: options.clock,
  });

  const post: Harness['post'] = (path, body = {}, postOptions = {}) => {
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const signer = postOptions.credential ?? credential;
    const headers = signRequest({
      method: 'POST',
      pathWithQuery: path,
      body: raw,
      accessKeyId: signer.accessKeyId,
      secretKey: signer.secretKey,
      now: postOptions.now ?? options.clock?.() ?? new Date(),
    });
    // superagent would re-serialise a Buffer sent as JSON; octet-stream keeps the exact bytes.
    return request(app).post(path).set(headers).set('Content-Type', 'application/octet-stream').send(raw);
  };

  return {
    app,
    store,
    keyService,
    credentials,
    audit,
    rootKey,
    credential,
    dataDir: dir.path,
    post,
    // A nonce per call, as the client sends: equal state-changing calls in one second are not replays.
    call: (action, body) => post(`/api/v1/kms/${action}?nonce=${randomUUID()}`, body),
    async close() {
      await store.close();
      dir.remove();
    },
  };
}
