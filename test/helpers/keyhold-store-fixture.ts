import { CredentialService } from '../../src/kms/credential-service.js';
import { KeyService } from '../../src/kms/key-service.js';
import { openRootKey } from '../../src/kms/root-key.js';
import { PassphraseMasterKey } from '../../src/providers/master-keys/passphrase.js';
import { LevelDbStore } from '../../src/store/leveldb-store.js';
import { rememberSecret } from './secrets.js';

export const FIXTURE_PASSPHRASE = 'verify-store fixture passphrase (test)';

export interface KeyholdStoreFixture {
  /** A symmetric key rotated to version 3, with an alias and rotation (a schedule entry) enabled. */
  rotatedKeyId: string;
  /** A symmetric key pending deletion (a schedule entry). */
  pendingKeyId: string;
  /** An ECC key: its private key is version 1, wrapped with the private-key AAD. */
  asymmetricKeyId: string;
  accessKeyId: string;
}

export function fixtureMasterKey(): PassphraseMasterKey {
  rememberSecret(FIXTURE_PASSPHRASE);
  return new PassphraseMasterKey({ value: FIXTURE_PASSPHRASE, source: 'KEYHOLD_PASSPHRASE' }, 'pbkdf2');
}

/**
 * A closed Keyhold store in `dataDir` made by the real KeyService and CredentialService, with
 * a record of every kind: keys of both kinds, versions, rotations, an alias, schedule entries,
 * a credential and the audit lines they wrote.
 */
export async function buildKeyholdStore(dataDir: string): Promise<KeyholdStoreFixture> {
  const store = await LevelDbStore.open(dataDir);
  try {
    const { rootKey } = await openRootKey(store, fixtureMasterKey());
    const service = new KeyService({ store, rootKey });
    const credentials = await CredentialService.load(store, rootKey);
    const { accessKeyId, secretKey } = await credentials.add({ admin: true, description: 'fixture', principal: 'test' });
    rememberSecret(secretKey);
    for (let i = 0; i < 20; i++) await service.createKey({ description: `plain ${i}` });
    const rotatedKeyId = (await service.createKey({ description: 'rotated' })).KeyId;
    await service.rotation.rotateOnDemand({ keyId: rotatedKeyId }, { principal: 'test' });
    await service.rotation.rotateOnDemand({ keyId: rotatedKeyId }, { principal: 'test' });
    await service.rotation.enable({ keyId: rotatedKeyId, rotationPeriodInDays: 90 }, { principal: 'test' });
    await service.aliases.create({ aliasName: 'alias/rotated', targetKeyId: rotatedKeyId }, { principal: 'test' });
    const pendingKeyId = (await service.createKey({ description: 'pending' })).KeyId;
    await service.scheduleKeyDeletion({ keyId: pendingKeyId, pendingWindowInDays: 7 });
    const asymmetricKeyId = (await service.createKey({ description: 'signer', keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' })).KeyId;
    service.clearCaches();
    rootKey.fill(0);
    return { rotatedKeyId, pendingKeyId, asymmetricKeyId, accessKeyId };
  } finally {
    await store.close();
  }
}
