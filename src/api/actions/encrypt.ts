import { z } from 'zod';
import { base64, defineAction, onKeyId } from '../action.js';
import { algorithmField, encryptionContextField, keyIdField, plaintextField } from '../fields.js';
import { base64Shape } from '../answer-shapes.js';

export const encrypt = defineAction({
  name: 'encrypt',
  access: { policyAction: 'Encrypt', keys: onKeyId, contextField: 'encryptioncontext' },
  schema: z.object({
    keyid: keyIdField,
    plaintext: plaintextField,
    encryptioncontext: encryptionContextField.optional(),
    encryptionalgorithm: algorithmField.optional(),
  }),
  answer: z.object({ CiphertextBlob: base64Shape, KeyId: z.string(), EncryptionAlgorithm: z.string() }),
  async handle(input, { keyService }) {
    try {
      const result = await keyService.encrypt({
        keyId: input.keyid,
        plaintext: input.plaintext,
        encryptionContext: input.encryptioncontext,
        encryptionAlgorithm: input.encryptionalgorithm,
      });
      return { CiphertextBlob: base64(result.ciphertextBlob), KeyId: result.keyId, EncryptionAlgorithm: result.encryptionAlgorithm };
    } finally {
      input.plaintext.fill(0);
    }
  },
});
