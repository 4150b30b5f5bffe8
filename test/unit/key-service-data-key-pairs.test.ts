import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { DataKeyPairSpec } from '../../src/crypto/data-key-pair.js';
import { KmsError } from '../../src/errors.js';
import { KeyService } from '../../src/kms/key-service.js';
import type { Store } from '../../src/store/store.js';
import { rejectionOf } from '../helpers/rejection.js';
import type { makeTempDir } from '../helpers/temp-dir.js';
import { openTempStore } from '../helpers/temp-store.js';

describe('KeyService.generateDataKeyPair on a real store', function () {
  this.timeout(60_000);
  let dir: ReturnType<typeof makeTempDir>;
  let store: Store;
  let service: KeyService;

  beforeEach(async () => {
    ({ dir, store } = await openTempStore());
    service = new KeyService({ store, rootKey: randomBytes(32) });
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it('refuses a spec it does not make, before looking at the key', async () => {
    const error = await rejectionOf(service.generateDataKeyPair({ keyId: 'alias/none', keyPairSpec: 'SM2' as DataKeyPairSpec }), KmsError);
    expect(error.type).to.equal('ValidationException');
  });

  it('looks the key up again once the pair is made: a key disabled meanwhile seals nothing', async () => {
    const { KeyId } = await service.createKey({});
    // An RSA 4096 pair takes a tenth of a second at the very least; the key is disabled long before.
    const pending = service.generateDataKeyPair({ keyId: KeyId, keyPairSpec: 'RSA_4096' });
    await service.disableKey({ keyId: KeyId });
    expect((await rejectionOf(pending, KmsError)).type).to.equal('DisabledException');
  });

  it('makes an EC pair without waiting for the RSA pairs in line before it', async () => {
    const { KeyId } = await service.createKey({});
    const finished: string[] = [];
    const rsa = [1, 2, 3].map((n) => service.generateDataKeyPair({ keyId: KeyId, keyPairSpec: 'RSA_4096' }).then(() => finished.push(`rsa${n}`)));
    await service.generateDataKeyPair({ keyId: KeyId, keyPairSpec: 'ECC_NIST_P256' }).then(() => finished.push('ec'));
    await Promise.all(rsa);
    expect(finished).to.have.length(4);
    expect(finished[0]).to.equal('ec');
  });
});
