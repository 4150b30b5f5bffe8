/**
 * Prepares a Keyhold data dir offline, before the server starts: the store, its root key
 * (created by the configured master key), an admin credential whose secret the bench keeps,
 * the keys the scenarios use and a ciphertext to decrypt. Goes through KeyService and
 * CredentialService like the server does; the store is closed again before the server opens it.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config.js';
import { CredentialService } from '../src/kms/credential-service.js';
import { KeyService } from '../src/kms/key-service.js';
import { openRootKey } from '../src/kms/root-key.js';
import { createMasterKeyProvider } from '../src/providers/master-keys/index.js';
import { openConfiguredStore } from '../src/server/open-store.js';
import { cleanEnv } from './processes.js';

export const PLAINTEXT_BYTES = 1024;

/** A credential the bench signs with: its access key id and the base64 of its secret. */
export interface BenchCredential {
  accessKeyId: string;
  secretKey: string;
}

/** `accessKeyId` and `secretKey` are the admin credential's (an admin skips policy evaluation). */
export interface PreparedStore extends BenchCredential {
  /**
   * Issue 14: a credential that is not admin, whose policy allows kms:Encrypt and kms:Decrypt
   * on `alias/bench` (the alias of `keyId`): every request it signs is evaluated against it.
   */
  restricted: BenchCredential;
  keyId: string;
  /** 1 KiB sealed under `keyId`, for decrypt and reencrypt. */
  ciphertextBlob: string;
  plaintext: string;
  spreadKeyIds: string[];
  /** A key rotated to 1,000 versions, and a blob made under its version 1. */
  versionedKeyId: string;
  oldestVersionBlob: string;
}

/** Issue 5: encrypt and decrypt must cost the same on a key with 1 or 1,000 versions. */
export const VERSIONS = 1000;

/** The alias of the bench key, the resource the restricted credential's policy names. */
export const BENCH_ALIAS = 'alias/bench';

/** What the restricted credential may do: DESIGN's shape of a per-application policy. */
export const RESTRICTED_POLICY = {
  Statement: [{ Sid: 'bench', Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: BENCH_ALIAS }],
};

/**
 * Opens the store at `dataDir` (LevelDB; with `storeUrl`, that PostgreSQL database, as
 * KEYHOLD_STORE_URL does) with the master key that `masterEnv` describes and adds a
 * credential, one key, a blob and `spreadKeyCount` more keys. SOFTHSM2_CONF, when in
 * `masterEnv`, is set for this process while the token is open (SoftHSM reads it then).
 */
export async function prepareStore(dataDir: string, masterEnv: Record<string, string>, spreadKeyCount: number, storeUrl?: string): Promise<PreparedStore> {
  const config = loadConfig(cleanEnv({ ...masterEnv, KEYHOLD_DATA_DIR: dataDir, ...(storeUrl === undefined ? {} : { KEYHOLD_STORE_URL: storeUrl }) }));
  const previousConf = process.env.SOFTHSM2_CONF;
  if (masterEnv.SOFTHSM2_CONF) process.env.SOFTHSM2_CONF = masterEnv.SOFTHSM2_CONF;
  // What the server opens for this configuration: PostgresStore.open({ url, dataDir }) or LevelDbStore.open(dataDir).
  const store = await openConfiguredStore(config);
  const provider = createMasterKeyProvider(config, () => {});
  try {
    const { rootKey } = await openRootKey(store, provider);
    const credentials = await CredentialService.load(store, rootKey);
    const admin = await credentials.add({ admin: true, description: 'bench', principal: 'bench' });
    const keyService = new KeyService({ store, rootKey });
    const { KeyId: keyId } = await keyService.createKey({ description: 'bench' });
    await keyService.aliases.create({ aliasName: BENCH_ALIAS, targetKeyId: keyId }, { principal: 'bench' });
    const restricted = await credentials.create({ description: 'bench, restricted', policy: RESTRICTED_POLICY }, { principal: 'bench' });
    const plaintext = randomBytes(PLAINTEXT_BYTES);
    const { ciphertextBlob } = await keyService.encrypt({ keyId, plaintext: Buffer.from(plaintext) });
    const spreadKeyIds: string[] = [];
    for (let i = 0; i < spreadKeyCount; i++) {
      spreadKeyIds.push((await keyService.createKey({ description: `bench spread ${i}` })).KeyId);
    }
    const { KeyId: versionedKeyId } = await keyService.createKey({ description: `bench ${VERSIONS} versions` });
    const oldest = await keyService.encrypt({ keyId: versionedKeyId, plaintext: Buffer.from(plaintext) });
    for (let version = 2; version <= VERSIONS; version++) {
      await keyService.rotation.rotateOnDemand({ keyId: versionedKeyId }, { principal: 'bench' });
    }
    keyService.clearCaches();
    rootKey.fill(0);
    return {
      accessKeyId: admin.accessKeyId,
      secretKey: admin.secretKey.toString('base64'),
      restricted: { accessKeyId: restricted.credential.AccessKeyId, secretKey: restricted.secretKey.toString('base64') },
      keyId,
      ciphertextBlob: ciphertextBlob.toString('base64'),
      plaintext: plaintext.toString('base64'),
      spreadKeyIds,
      versionedKeyId,
      oldestVersionBlob: oldest.ciphertextBlob.toString('base64'),
    };
  } finally {
    await store.close();
    await provider.close();
    if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previousConf;
  }
}
