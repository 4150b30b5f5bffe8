import { hashMessage, verifyDigest } from '../../crypto/asymmetric.js';
import { ASYMMETRIC_KEY_SPECS } from '../../crypto/asymmetric-algorithms.js';
import { KMSInternalException, ValidationException } from '../../errors.js';
import type { RemoteKeyProvider, RemoteOrigin } from '../../providers/remote-keys/remote-key-provider.js';
import type { KeyOrigin, KeyRecord } from '../../store/records.js';
import { asymmetricMetadata, asymmetricOperations, ASYMMETRIC_USAGES, NO_ROTATION } from './asymmetric-shared.js';
import { newKey, type KeyKind, type KindContext } from './key-kind.js';

const REMOTE_ORIGINS: readonly RemoteOrigin[] = ['AWS_KMS', 'GCP_KMS'];

/**
 * Asymmetric keys of another KMS (AWS KMS, Google Cloud KMS): the private key stays there, and
 * only sign and decrypt go there; Keyhold holds the public key and no material. The KeySpec
 * and usage are the other KMS's key's.
 */
export const asymmetricRemoteKind: KeyKind = {
  name: 'asymmetric remote',
  origins: REMOTE_ORIGINS,
  keySpecs: ASYMMETRIC_KEY_SPECS,
  keyUsages: ASYMMETRIC_USAGES,
  // Any KeySpec given is checked against the other KMS's key once it is described.
  accepts: (request) => isRemote(request.origin),
  supports: asymmetricOperations,
  material: 'none',
  rotation: NO_ROTATION,
  metadata: asymmetricMetadata,

  async create(request, caller, context) {
    const { base, batch } = newKey(request, caller, context, { detail: { Origin: request.origin } });
    /* Precondition: a remote key names its key in the other KMS. */
    if (!request.providerKeyId) throw new ValidationException(`ProviderKeyId is required for Origin ${request.origin}`);
    const provider = await remoteProvider(context, request.origin);
    const described = await provider.describe(request.providerKeyId);
    if (request.keySpec !== undefined && request.keySpec !== described.keySpec) {
      throw new ValidationException(`KeySpec '${request.keySpec}' does not match the ${request.origin} key, which is ${described.keySpec}`);
    }
    if (request.keyUsage !== undefined && request.keyUsage !== described.keyUsage) {
      throw new ValidationException(`KeyUsage '${request.keyUsage}' does not match the ${request.origin} key, which is ${described.keyUsage}`);
    }
    const record: KeyRecord = {
      ...base,
      keySpec: described.keySpec,
      keyUsage: described.keyUsage,
      publicKey: described.publicKey.toString('base64'),
      signingAlgorithms: described.signingAlgorithms,
      encryptionAlgorithms: described.encryptionAlgorithms,
      providerKeyId: request.providerKeyId,
    };
    await context.registry.create(record, batch, 'none');
    return record;
  },

  privateHalf: {
    async sign(record, algorithm, message, messageType, context) {
      // Only the digest leaves Keyhold, whatever the message type.
      const digest = messageType === 'RAW' ? hashMessage(algorithm, message) : message;
      const signature = await (await remoteProvider(context, record.origin)).signDigest(record.providerKeyId!, algorithm, digest);
      /* Postcondition: the remote signature verifies with the public key Keyhold stored and answers
         with, so a key that changed behind its name (or a corrupted answer) is never passed on. */
      if (!verifyDigest(context.registry.publicKey(record), algorithm, digest, signature)) {
        throw new KMSInternalException(`The ${record.origin} signature does not verify with the key's registered public key`);
      }
      return signature;
    },

    async decrypt(record, algorithm, ciphertext, context) {
      return (await remoteProvider(context, record.origin)).decrypt(record.providerKeyId!, algorithm, ciphertext);
    },
  },
};

function isRemote(origin: KeyOrigin): origin is RemoteOrigin {
  return (REMOTE_ORIGINS as readonly string[]).includes(origin);
}

async function remoteProvider({ remoteProviders }: KindContext, origin: KeyOrigin): Promise<RemoteKeyProvider> {
  if (!isRemote(origin) || !remoteProviders) throw new ValidationException(`Origin ${origin} is not available on this server`);
  return remoteProviders.get(origin);
}
