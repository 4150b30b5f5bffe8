import { createPrivateKey, createPublicKey } from 'node:crypto';
import { expect } from 'chai';
import { DATA_KEY_PAIR_SPECS, generateDataKeyPair } from '../../src/crypto/data-key-pair.js';

describe('crypto: data key pairs', function () {
  this.timeout(60_000);

  it('makes PKCS#8 and SubjectPublicKeyInfo DER of one pair, for every spec', async () => {
    for (const spec of DATA_KEY_PAIR_SPECS) {
      const { privateKey, publicKey } = await generateDataKeyPair(spec);
      const parsed = createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' });
      // Re-encoding the parsed key gives the same bytes: the DER is PKCS#8 as node and openssl write it.
      expect(parsed.export({ format: 'der', type: 'pkcs8' }).equals(privateKey), spec).to.equal(true);
      expect(createPublicKey(parsed).export({ format: 'der', type: 'spki' }).equals(publicKey), spec).to.equal(true);
      expect(createPublicKey({ key: publicKey, format: 'der', type: 'spki' }).asymmetricKeyType).to.equal(spec.startsWith('RSA') ? 'rsa' : 'ec');
    }
  });

  it('leaves the event loop free while an RSA 4096 pair is made', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    try {
      await generateDataKeyPair('RSA_4096');
    } finally {
      clearInterval(timer);
    }
    // Generated on the event loop, the interval could not run at all before the pair was there.
    expect(ticks).to.be.at.least(3);
  });
});
