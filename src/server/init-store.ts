import path from 'node:path';
import type { KeyholdConfig } from '../config.js';
import { StartupError } from '../errors.js';
import { CredentialService } from '../kms/credential-service.js';
import { openRootKey } from '../kms/root-key.js';
import { createMasterKeyProvider } from '../providers/master-keys/index.js';
import { urlHost } from '../runtime/listen.js';
import { loadTlsMaterial } from '../runtime/tls.js';
import { heldStoreEvidence } from '../store/store-open.js';
import { LevelDbStore } from '../store/leveldb-store.js';
import { ADMIN_CREDENTIALS_FILE, createFirstAdminCredential, makeDataDir } from './admin-credentials.js';

/**
 * `keyhold admin init`: makes a new store offline, exactly as a first start would (the store
 * and its seal, the root key under the configured master key, the first admin credential and
 * admin.credentials naming KEYHOLD_HOST and KEYHOLD_PORT and the certificate's fingerprint),
 * and only in a data directory that never held one.
 */
export async function initStore(config: KeyholdConfig, warn: (message: string) => void): Promise<{ storeId: string; accessKeyId: string; credentialsFile: string }> {
  makeDataDir(config.dataDir);
  const evidence = heldStoreEvidence(config.dataDir);
  if (evidence.length > 0) {
    throw new StartupError(
      `${config.dataDir} already holds a store (found ${evidence.join(', ')}); keyhold admin init makes one only in a data directory that never held one`,
      'KEYHOLD_DATA_DIR',
    );
  }
  const provider = createMasterKeyProvider(config, warn);
  let store: LevelDbStore | undefined;
  try {
    store = await LevelDbStore.open(config.dataDir);
    const { rootKey } = await openRootKey(store, provider);
    try {
      const credentials = await CredentialService.load(store, rootKey);
      const tls = await loadTlsMaterial(config);
      const url = `https://${urlHost(config.host)}:${config.port}`;
      const admin = await createFirstAdminCredential(credentials, config.dataDir, { Url: url, CertSha256: tls.certSha256 }, warn);
      return { storeId: store.storeId, accessKeyId: admin.accessKeyId, credentialsFile: path.join(config.dataDir, ADMIN_CREDENTIALS_FILE) };
    } finally {
      rootKey.fill(0);
    }
  } finally {
    await store?.close();
    await provider.close();
  }
}
