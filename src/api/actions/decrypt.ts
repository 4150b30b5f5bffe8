import { z } from 'zod';
import { ENVELOPE_ALGORITHM } from '../../kms/key-kinds/index.js';
import { base64, defineAction } from '../action.js';
import { algorithmField, ciphertextBlobField, encryptionContextField, keyIdField } from '../fields.js';
import { base64Shape } from '../answer-shapes.js';

export const decrypt = defineAction({
  name: 'decrypt',
  access: {
    policyAction: 'Decrypt',
    // A symmetric blob names its key; an RSA ciphertext does not, and the request's KeyId does.
    keys: (input) => (input.encryptionalgorithm === undefined || input.encryptionalgorithm === ENVELOPE_ALGORITHM ? [{ blob: 'ciphertextblob' }] : [{ field: 'keyid' }]),
    contextField: 'encryptioncontext',
  },
  schema: z.object({
    ciphertextblob: ciphertextBlobField,
    encryptioncontext: encryptionContextField.optional(),
    keyid: keyIdField.optional(),
    encryptionalgorithm: algorithmField.optional(),
  }),
  answer: z.object({ Plaintext: base64Shape, KeyId: z.string(), EncryptionAlgorithm: z.string() }),
  async handle(input, { keyService }) {
    const result = await keyService.decrypt({
      ciphertextBlob: input.ciphertextblob,
      encryptionContext: input.encryptioncontext,
      keyId: input.keyid,
      encryptionAlgorithm: input.encryptionalgorithm,
    });
    try {
      return { Plaintext: base64(result.plaintext), KeyId: result.keyId, EncryptionAlgorithm: result.encryptionAlgorithm };
    } finally {
      result.plaintext.fill(0);
    }
  },
});
