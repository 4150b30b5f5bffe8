import { z } from 'zod';
import { base64, defineAction, onKeyId, type ActionContext } from '../action.js';
import { encryptionContextField, keyIdField } from '../fields.js';
import type { DataKeySpec } from '../../kms/key-service.js';
import { base64Shape } from '../answer-shapes.js';

const dataKeyRequest = z.object({
  keyid: keyIdField,
  keyspec: z.enum(['AES_256', 'AES_128']).optional(),
  numberofbytes: z.number().int().min(1).max(1024).optional(),
  encryptioncontext: encryptionContextField.optional(),
});

function generate(input: z.output<typeof dataKeyRequest>, { keyService, dialect }: ActionContext) {
  // go-kms's generatedatakey took only KeyID and always made a 256-bit key.
  const keySpec: DataKeySpec | undefined =
    input.keyspec ?? (dialect === 'go-kms' && input.numberofbytes === undefined ? 'AES_256' : undefined);
  return keyService.generateDataKey({
    keyId: input.keyid,
    keySpec,
    numberOfBytes: input.numberofbytes,
    encryptionContext: input.encryptioncontext,
  });
}

export const generateDataKey = defineAction({
  name: 'generatedatakey',
  access: { policyAction: 'GenerateDataKey', keys: onKeyId, contextField: 'encryptioncontext' },
  schema: dataKeyRequest,
  answer: z.object({ Plaintext: base64Shape, CiphertextBlob: base64Shape, KeyId: z.string() }),
  async handle(input, context) {
    const result = await generate(input, context);
    try {
      return { Plaintext: base64(result.plaintext), CiphertextBlob: base64(result.ciphertextBlob), KeyId: result.keyId };
    } finally {
      result.plaintext.fill(0);
    }
  },
});

export const generateDataKeyWithoutPlaintext = defineAction({
  name: 'generatedatakeywithoutplaintext',
  access: { policyAction: 'GenerateDataKeyWithoutPlaintext', keys: onKeyId, contextField: 'encryptioncontext' },
  schema: dataKeyRequest,
  answer: z.object({ CiphertextBlob: base64Shape, KeyId: z.string() }),
  async handle(input, context) {
    const result = await generate(input, context);
    result.plaintext.fill(0);
    return { CiphertextBlob: base64(result.ciphertextBlob), KeyId: result.keyId };
  },
});
