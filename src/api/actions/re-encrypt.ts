import { z } from 'zod';
import { base64, defineAction } from '../action.js';
import { ciphertextBlobField, encryptionContextField, keyIdField } from '../fields.js';

export const reEncrypt = defineAction({
  name: 'reencrypt',
  schema: z.object({
    ciphertextblob: ciphertextBlobField,
    sourceencryptioncontext: encryptionContextField.optional(),
    sourcekeyid: keyIdField.optional(),
    destinationkeyid: keyIdField,
    destinationencryptioncontext: encryptionContextField.optional(),
  }),
  async handle(input, { keyService }) {
    const result = await keyService.reEncrypt({
      ciphertextBlob: input.ciphertextblob,
      sourceEncryptionContext: input.sourceencryptioncontext,
      sourceKeyId: input.sourcekeyid,
      destinationKeyId: input.destinationkeyid,
      destinationEncryptionContext: input.destinationencryptioncontext,
    });
    return { CiphertextBlob: base64(result.ciphertextBlob), KeyId: result.keyId, SourceKeyId: result.sourceKeyId };
  },
});
