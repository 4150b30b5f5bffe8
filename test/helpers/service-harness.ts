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
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { Store } from '../../src/store/store.js';
// Every exchange of the harness's app is checked against the OpenAPI description.
import './exchange-recorder.js';
import { captureLogger } from './log-capture.js';
import { rememberSecret } from './secrets.js';
import { makeTempDir } from './temp-dir.js';
import { testStoreEnv, type StoreChoice } from './test-store.js';

export const TEST_PASSPHRASE = 'correct horse battery staple (test)';

export interface Harness<S extends Store = Store> {
  app: RequestListener;
  /** This run's store (test-store.ts): LevelDB, or with KEYHOLD_TEST_STORE=postgres a database of its own. */
  store: S;
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

export interface HarnessOptions extends StoreChoice {
  goKmsAuthKey?: string;
  goKmsPolicy?: object;
  clock?: () => Date;
  remoteProviders?: RemoteKeyProviders;
}

/**
 * The real service (the run's store for a temp data dir, passphrase master key, KeyService,
 * signed API) behind the app's request listener, for supertest. Nothing is mocked. The store
 * is the one KEYHOLD_TEST_STORE chooses (test-store.ts), so the PostgreSQL run tests these
 * suites on PostgreSQL; `{ store: 'leveldb' }` is for a test about LevelDB itself.
 */
export async function openHarness(options: HarnessOptions & { store: 'leveldb' }): Promise<Harness<LevelDbStore>>;
export async function openHarness(options?: HarnessOptions): Promise<Harness>;
export async function openHarness(options: HarnessOptions = {}): Promise<Harness> {
  rememberSecret(TEST_PASSPHRASE);
  const dir = makeTempDir();
  const store = await openTestStore(dir.path, { store: options.store });
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
    isHealthy: () => store.isHealthy,
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

/**
 * The run's store for `dataDir`, as a server on it would have it: LevelDB in the directory, or
 * its database on the run's PostgreSQL (the same database again when the directory is opened
 * again, as after a restart).
 */
export function openTestStore(dataDir: string, choice: StoreChoice & { store: 'leveldb' }): Promise<LevelDbStore>;
export function openTestStore(dataDir: string, choice?: StoreChoice): Promise<Store>;
export async function openTestStore(dataDir: string, choice: StoreChoice = {}): Promise<Store> {
  const url = testStoreEnv(dataDir, choice).KEYHOLD_STORE_URL;
  return url === undefined ? LevelDbStore.open(dataDir) : PostgresStore.open({ url, dataDir });
}

/**
 * Every record a store holds, as stored, read from a snapshot: where key material that leaked
 * into the store would be, on LevelDB or PostgreSQL. (LevelDB's files can hold more, such as
 * records overwritten but not yet compacted away: a test about those reads the files.)
 */
export async function storedRecords(store: Store): Promise<Buffer[]> {
  const snapshot = store.openSnapshot();
  const values: Buffer[] = [];
  try {
    for (let page = await snapshot.next(500); page.length > 0; page = await snapshot.next(500)) {
      for (const entry of page) values.push(Buffer.from(entry.key, 'utf8'), entry.value);
    }
  } finally {
    await snapshot.close();
  }
  return values;
}
