import { z } from 'zod';
import { base64, defineAction } from '../action.js';
import { encryptionContextField, keyIdField, plaintextField } from '../fields.js';

export const encrypt = defineAction({
  name: 'encrypt',
  schema: z.object({
    keyid: keyIdField,
    plaintext: plaintextField,
    encryptioncontext: encryptionContextField.optional(),
  }),
  async handle(input, { keyService }) {
    try {
      const result = await keyService.encrypt({
        keyId: input.keyid,
        plaintext: input.plaintext,
        encryptionContext: input.encryptioncontext,
      });
      return { CiphertextBlob: base64(result.ciphertextBlob), KeyId: result.keyId };
    } finally {
      input.plaintext.fill(0);
    }
  },
});
