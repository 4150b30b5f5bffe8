import { z } from 'zod';
import { DATA_KEY_PAIR_SPECS } from '../../crypto/data-key-pair.js';
import { UnsupportedOperationException } from '../../errors.js';
import { base64, defineAction, onKeyId, type ActionContext } from '../action.js';
import { encryptionContextField, keyIdField } from '../fields.js';
import { base64Shape } from '../answer-shapes.js';

const dataKeyPairRequest = z.object({
  keyid: keyIdField,
  keypairspec: z.enum(DATA_KEY_PAIR_SPECS),
  encryptioncontext: encryptionContextField.optional(),
  // AWS's attestation of a Nitro enclave; checked by generate below, so any shape is refused alike.
  recipient: z.unknown().optional(),
});

type DataKeyPairInput = z.output<typeof dataKeyPairRequest>;

function generate(input: DataKeyPairInput, { keyService }: ActionContext) {
  /* Precondition: no Recipient: there is no enclave attestation to encrypt the private key for. */
  if (input.recipient !== undefined) {
    throw new UnsupportedOperationException('Keyhold does not support Recipient (AWS Nitro Enclaves attestation): leave it out');
  }
  return keyService.generateDataKeyPair({ keyId: input.keyid, keyPairSpec: input.keypairspec, encryptionContext: input.encryptioncontext });
}

export const generateDataKeyPair = defineAction({
  name: 'generatedatakeypair',
  access: { policyAction: 'GenerateDataKeyPair', keys: onKeyId, contextField: 'encryptioncontext' },
  schema: dataKeyPairRequest,
  answer: z.object({ PrivateKeyCiphertextBlob: base64Shape, PrivateKeyPlaintext: base64Shape, PublicKey: base64Shape, KeyId: z.string(), KeyPairSpec: z.string() }),
  async handle(input, context) {
    const pair = await generate(input, context);
    try {
      return {
        PrivateKeyCiphertextBlob: base64(pair.privateKeyCiphertextBlob),
        PrivateKeyPlaintext: base64(pair.privateKeyPlaintext),
        PublicKey: base64(pair.publicKey),
        KeyId: pair.keyId,
        KeyPairSpec: pair.keyPairSpec,
      };
    } finally {
      pair.privateKeyPlaintext.fill(0);
    }
  },
});

/** The same pair without its plaintext private key, for whoever only encrypts or verifies now. */
export const generateDataKeyPairWithoutPlaintext = defineAction({
  name: 'generatedatakeypairwithoutplaintext',
  access: { policyAction: 'GenerateDataKeyPairWithoutPlaintext', keys: onKeyId, contextField: 'encryptioncontext' },
  schema: dataKeyPairRequest,
  answer: z.object({ PrivateKeyCiphertextBlob: base64Shape, PublicKey: base64Shape, KeyId: z.string(), KeyPairSpec: z.string() }),
  async handle(input, context) {
    const pair = await generate(input, context);
    pair.privateKeyPlaintext.fill(0);
    return { PrivateKeyCiphertextBlob: base64(pair.privateKeyCiphertextBlob), PublicKey: base64(pair.publicKey), KeyId: pair.keyId, KeyPairSpec: pair.keyPairSpec };
  },
});
