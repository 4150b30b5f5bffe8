import { expect } from 'chai';
import { ASYMMETRIC_KEY_SPECS } from '../../src/crypto/asymmetric-algorithms.js';
import { InvalidKeyUsageException, KMSInternalException, ValidationException } from '../../src/errors.js';
import { asymmetricLocalKind } from '../../src/kms/key-kinds/asymmetric-local.js';
import { asymmetricRemoteKind } from '../../src/kms/key-kinds/asymmetric-remote.js';
import { findKind, hasVersions, kindForRequest, kindOf, requireOperation } from '../../src/kms/key-kinds/index.js';
import { symmetricKind } from '../../src/kms/key-kinds/symmetric.js';
import { hmacKind } from '../../src/kms/key-kinds/hmac.js';
import type { KeyRecord } from '../../src/store/records.js';
import { sampleKeyRecord } from '../helpers/temp-store.js';

/** The error `work` throws (the test fails when it throws none). */
function thrownBy(work: () => unknown): Error {
  try {
    work();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

const rsaSigning = (overrides: Partial<KeyRecord> = {}) =>
  sampleKeyRecord({ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY', signingAlgorithms: ['RSASSA_PSS_SHA_256'], encryptionAlgorithms: [], ...overrides });

describe('key kinds', () => {
  describe('kindForRequest', () => {
    it('makes a symmetric key by default, and for KeySpec SYMMETRIC_DEFAULT', () => {
      expect(kindForRequest({})).to.equal(symmetricKind);
      expect(kindForRequest({ origin: 'KEYHOLD', keySpec: 'SYMMETRIC_DEFAULT' })).to.equal(symmetricKind);
      expect(kindForRequest({ keyUsage: 'SIGN_VERIFY' })).to.equal(symmetricKind); // the kind refuses the usage when it creates
    });

    it('makes a local asymmetric key for every asymmetric KeySpec with Origin KEYHOLD', () => {
      for (const keySpec of ASYMMETRIC_KEY_SPECS) expect(kindForRequest({ keySpec }), keySpec).to.equal(asymmetricLocalKind);
    });

    it('makes an HMAC key for every HMAC KeySpec with Origin KEYHOLD', () => {
      for (const keySpec of ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512']) {
        expect(kindForRequest({ keySpec, keyUsage: 'GENERATE_VERIFY_MAC' }), keySpec).to.equal(hmacKind);
      }
    });

    it("makes a remote key for Origin AWS_KMS or GCP_KMS, whatever KeySpec is given (checked against the other KMS's key)", () => {
      for (const origin of ['AWS_KMS', 'GCP_KMS']) {
        expect(kindForRequest({ origin, providerKeyId: 'k' }), origin).to.equal(asymmetricRemoteKind);
        expect(kindForRequest({ origin, keySpec: 'SYMMETRIC_DEFAULT' }), origin).to.equal(asymmetricRemoteKind);
      }
    });

    it('refuses an unknown Origin, an unknown KeySpec, and ProviderKeyId for a key made here, with the same messages as before kinds', () => {
      const cases: [Parameters<typeof kindForRequest>[0], string][] = [
        [{ origin: 'ELSEWHERE' }, "Origin 'ELSEWHERE' is not supported; use KEYHOLD, AWS_KMS, GCP_KMS or EXTERNAL"],
        [{ origin: 'EXTERNAL', keySpec: 'RSA_2048' }, "KeySpec 'RSA_2048' is not supported; use SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384 or HMAC_512"],
        [{ origin: 'EXTERNAL', providerKeyId: 'k' }, 'ProviderKeyId is only for Origin AWS_KMS or GCP_KMS'],
        [{ keySpec: 'RSA_1024' }, "KeySpec 'RSA_1024' is not supported; use SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, HMAC_224, HMAC_256, HMAC_384 or HMAC_512"],
        [{ providerKeyId: 'k' }, 'ProviderKeyId is only for Origin AWS_KMS or GCP_KMS'],
        [{ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY', providerKeyId: 'k' }, 'ProviderKeyId is only for Origin AWS_KMS or GCP_KMS'],
        [{ keySpec: 'RSA_1024', providerKeyId: 'k' }, 'ProviderKeyId is only for Origin AWS_KMS or GCP_KMS'],
      ];
      for (const [request, message] of cases) {
        const error = thrownBy(() => kindForRequest(request));
        expect(error, JSON.stringify(request)).to.be.instanceOf(ValidationException);
        expect(error.message).to.equal(message);
      }
    });
  });

  describe('importedKind', () => {
    it('makes the Origin EXTERNAL variant of the symmetric kind: same operations, no rotation, 32 bytes of imported material', () => {
      const kind = kindForRequest({ origin: 'EXTERNAL' });
      expect(kind).to.not.equal(symmetricKind);
      expect(kindForRequest({ origin: 'EXTERNAL', keySpec: 'SYMMETRIC_DEFAULT' })).to.equal(kind);
      expect(kind.origins).to.deep.equal(['EXTERNAL']);
      expect(kind.keySpecs).to.deep.equal(symmetricKind.keySpecs);
      expect(kind.supports('envelope')).to.equal(true);
      expect(kind.material).to.equal('versions');
      expect(kind.rotation.rotates).to.equal(false);
      expect(kind.importedMaterialLength!('SYMMETRIC_DEFAULT')).to.deep.equal({ min: 32, max: 32 });
      expect(symmetricKind.importedMaterialLength).to.equal(undefined);
      const record = { ...sampleKeyRecord(), origin: 'EXTERNAL' as const, keyState: 'PendingImport' as const };
      expect(kindOf(record)).to.equal(kind);
      expect(hasVersions(record)).to.equal(true);
    });

    it('makes the Origin EXTERNAL variant of the HMAC kind: MACs, stored as an HMAC secret, no rotation, the lengths AWS KMS takes', () => {
      const kind = kindForRequest({ origin: 'EXTERNAL', keySpec: 'HMAC_384' });
      expect(kind).to.not.equal(hmacKind);
      expect(kind).to.not.equal(kindForRequest({ origin: 'EXTERNAL' }));
      expect(kind.origins).to.deep.equal(['EXTERNAL']);
      expect(kind.keySpecs).to.deep.equal(hmacKind.keySpecs);
      expect(kind.supports('mac')).to.equal(true);
      expect(kind.supports('envelope')).to.equal(false);
      expect(kind.material).to.equal('mac-key');
      // Refused as for every HMAC key, not answered as for an imported symmetric key.
      expect(kind.rotation).to.equal(hmacKind.rotation);
      const lengths = Object.fromEntries(hmacKind.keySpecs.map((spec) => [spec, kind.importedMaterialLength!(spec)]));
      expect(lengths).to.deep.equal({ HMAC_224: { min: 28, max: 64 }, HMAC_256: { min: 32, max: 64 }, HMAC_384: { min: 48, max: 128 }, HMAC_512: { min: 64, max: 128 } });
      const record = { ...sampleKeyRecord({ keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC' }), origin: 'EXTERNAL' as const };
      expect(kindOf(record)).to.equal(kind);
      expect(hasVersions(record)).to.equal(false);
      expect(kind.metadata(record)).to.deep.equal({ MacAlgorithms: ['HMAC_SHA_384'] });
    });

    it('shows ExpirationModel and ValidTo while the material is there, not before and not after its deletion', () => {
      const kind = kindForRequest({ origin: 'EXTERNAL' });
      const record = { ...sampleKeyRecord(), origin: 'EXTERNAL' as const };
      expect(kind.metadata(record)).to.deep.equal({ EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] });
      const importedMaterial = { fingerprint: 'AA==', expirationModel: 'KEY_MATERIAL_EXPIRES' as const, validTo: '2027-01-01T00:00:00.000Z' };
      expect(kind.metadata({ ...record, importedMaterial })).to.deep.equal({
        EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
        ExpirationModel: 'KEY_MATERIAL_EXPIRES',
        ValidTo: '2027-01-01T00:00:00.000Z',
      });
      expect(kind.metadata({ ...record, importedMaterial: { ...importedMaterial, deleted: true } })).to.deep.equal({ EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] });
    });
  });

  describe('kindOf', () => {
    it("is the kind of a stored key's Origin and KeySpec", () => {
      expect(kindOf(sampleKeyRecord())).to.equal(symmetricKind);
      expect(kindOf(rsaSigning())).to.equal(asymmetricLocalKind);
      expect(kindOf(sampleKeyRecord({ keySpec: 'ECC_NIST_P256', origin: 'AWS_KMS', providerKeyId: 'k' }))).to.equal(asymmetricRemoteKind);
      expect(kindOf(sampleKeyRecord({ keySpec: 'RSA_4096', origin: 'GCP_KMS', providerKeyId: 'k' }))).to.equal(asymmetricRemoteKind);
    });

    it('refuses a record of no kind known here (a 500: the store is damaged, not the request)', () => {
      const record = sampleKeyRecord({ keySpec: 'AES_512' });
      expect(findKind(record)).to.equal(undefined);
      expect(hasVersions(record)).to.equal(false);
      expect(thrownBy(() => kindOf(record))).to.be.instanceOf(KMSInternalException);
    });
  });

  describe('what each kind is and does', () => {
    it('symmetric keys: envelope encryption, versions, rotation, EncryptionAlgorithms SYMMETRIC_DEFAULT and no SigningAlgorithms', () => {
      expect(['envelope', 'public-key', 'sign', 'asymmetric-encrypt'].filter((op) => symmetricKind.supports(op as never))).to.deep.equal(['envelope']);
      expect(symmetricKind.material).to.equal('versions');
      expect(hasVersions(sampleKeyRecord())).to.equal(true);
      expect(symmetricKind.rotation.rotates).to.equal(true);
      expect(symmetricKind.metadata(sampleKeyRecord())).to.deep.equal({ EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] });
    });

    it('asymmetric keys: their private key here or none, no rotation, the algorithms of their record', () => {
      for (const kind of [asymmetricLocalKind, asymmetricRemoteKind]) {
        expect(kind.supports('envelope'), kind.name).to.equal(false);
        expect(kind.supports('sign') && kind.supports('public-key') && kind.supports('asymmetric-encrypt'), kind.name).to.equal(true);
        expect(kind.privateHalf, kind.name).to.not.equal(undefined);
        const { rotation } = kind;
        if (rotation.rotates) expect.fail(`${kind.name} keys rotate`);
        expect(rotation.refusal(rsaSigning({ keyId: 'k1' }))).to.equal("Key 'k1' is asymmetric; only symmetric keys rotate");
        expect(kind.metadata(rsaSigning())).to.deep.equal({ EncryptionAlgorithms: [], SigningAlgorithms: ['RSASSA_PSS_SHA_256'] });
      }
      expect(asymmetricLocalKind.material).to.equal('private-key');
      expect(asymmetricRemoteKind.material).to.equal('none');
      expect(hasVersions(rsaSigning())).to.equal(false);
    });
  });

  describe('HMAC keys', () => {
    const hmac = (overrides: Partial<KeyRecord> = {}) => sampleKeyRecord({ keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC', ...overrides });

    it('do MACs only, hold their secret as version 1 (not as versions), do not rotate, and show MacAlgorithms only', () => {
      expect(kindOf(hmac())).to.equal(hmacKind);
      expect(['envelope', 'public-key', 'sign', 'asymmetric-encrypt', 'mac'].filter((op) => hmacKind.supports(op as never))).to.deep.equal(['mac']);
      expect(hmacKind.material).to.equal('mac-key');
      expect(hasVersions(hmac())).to.equal(false);
      const { rotation } = hmacKind;
      if (rotation.rotates) expect.fail('HMAC keys rotate');
      expect(rotation.refusal(hmac({ keyId: 'k1' }))).to.equal("Key 'k1' is an HMAC key; only symmetric encryption keys rotate");
      expect(hmacKind.metadata(hmac())).to.deep.equal({ MacAlgorithms: ['HMAC_SHA_384'] });
      expect(hmacKind.privateHalf).to.equal(undefined);
    });

    it('are refused for other operations, and other keys for MACs, with InvalidKeyUsageException', () => {
      const envelope = thrownBy(() => requireOperation(hmac({ keyId: 'k1' }), 'envelope', 'Encrypt'));
      expect(envelope).to.be.instanceOf(InvalidKeyUsageException);
      expect(envelope.message).to.equal("Encrypt needs a SYMMETRIC_DEFAULT key; 'k1' is HMAC_384 GENERATE_VERIFY_MAC");
      const mac = thrownBy(() => requireOperation(sampleKeyRecord({ keyId: 'k2' }), 'mac', 'GenerateMac'));
      expect(mac).to.be.instanceOf(InvalidKeyUsageException);
      expect(mac.message).to.equal("GenerateMac needs an HMAC key (GENERATE_VERIFY_MAC); 'k2' is SYMMETRIC_DEFAULT ENCRYPT_DECRYPT");
    });
  });

  describe('requireOperation', () => {
    it("answers the key's kind when it can do the operation", () => {
      expect(requireOperation(sampleKeyRecord(), 'envelope', 'Encrypt')).to.equal(symmetricKind);
      expect(requireOperation(rsaSigning(), 'sign', 'Sign')).to.equal(asymmetricLocalKind);
    });

    it('refuses a key of the wrong kind with the InvalidKeyUsageException messages of before', () => {
      const envelope = thrownBy(() => requireOperation(rsaSigning({ keyId: 'k1' }), 'envelope', 'ReEncrypt'));
      expect(envelope).to.be.instanceOf(InvalidKeyUsageException);
      expect(envelope.message).to.equal("ReEncrypt needs a SYMMETRIC_DEFAULT key; 'k1' is RSA_2048 SIGN_VERIFY");
      const sign = thrownBy(() => requireOperation(sampleKeyRecord({ keyId: 'k2' }), 'sign', 'Sign'));
      expect(sign).to.be.instanceOf(InvalidKeyUsageException);
      expect(sign.message).to.equal("Sign needs an asymmetric key; 'k2' is SYMMETRIC_DEFAULT");
    });
  });
});
