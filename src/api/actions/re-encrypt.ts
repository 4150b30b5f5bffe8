import { z } from 'zod';
import { base64, defineAction, onKeyId } from '../action.js';
import { ciphertextBlobField, encryptionContextField, keyIdField } from '../fields.js';
import { base64Shape } from '../answer-shapes.js';

export const reEncrypt = defineAction({
  name: 'reencrypt',
  access: {
    policyAction: 'ReEncrypt',
    // As in AWS: kms:ReEncryptFrom on the key the blob names, kms:ReEncryptTo on the destination.
    keys: () => [
      { blob: 'ciphertextblob', policyAction: 'ReEncryptFrom', contextField: 'sourceencryptioncontext' },
      { field: 'destinationkeyid', policyAction: 'ReEncryptTo', contextField: 'destinationencryptioncontext' },
    ],
    contextField: 'destinationencryptioncontext',
  },
  schema: z.object({
    ciphertextblob: ciphertextBlobField,
    sourceencryptioncontext: encryptionContextField.optional(),
    sourcekeyid: keyIdField.optional(),
    destinationkeyid: keyIdField,
    destinationencryptioncontext: encryptionContextField.optional(),
  }),
  answer: z.object({ CiphertextBlob: base64Shape, KeyId: z.string(), SourceKeyId: z.string() }),
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
