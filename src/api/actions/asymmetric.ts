import { z } from 'zod';
import { MAX_RAW_MESSAGE_BYTES } from '../../crypto/asymmetric-algorithms.js';
import { base64, defineAction, onKeyId } from '../action.js';
import { algorithmField, bytesField, keyIdField, messageTypeField } from '../fields.js';
import { base64Shape } from '../answer-shapes.js';

const messageField = bytesField(1, MAX_RAW_MESSAGE_BYTES);
// The longest signature: RSA 4096 is 512 bytes, DER ECDSA P-384 at most 104.
const signatureField = bytesField(1, 1024);

export const getPublicKey = defineAction({
  name: 'getpublickey',
  access: { policyAction: 'GetPublicKey', keys: onKeyId },
  schema: z.object({ keyid: keyIdField }),
  answer: z.object({
    KeyId: z.string(),
    PublicKey: base64Shape,
    KeySpec: z.string(),
    CustomerMasterKeySpec: z.string(),
    KeyUsage: z.string(),
    SigningAlgorithms: z.array(z.string()).optional(),
    EncryptionAlgorithms: z.array(z.string()).optional(),
  }),
  async handle(input, { keyService }) {
    const { record, publicKey } = await keyService.asymmetric.getPublicKey({ keyId: input.keyid });
    const answer: Record<string, unknown> = {
      KeyId: record.keyId,
      PublicKey: base64(publicKey),
      KeySpec: record.keySpec,
      CustomerMasterKeySpec: record.keySpec,
      KeyUsage: record.keyUsage,
    };
    if (record.keyUsage === 'SIGN_VERIFY') answer.SigningAlgorithms = record.signingAlgorithms ?? [];
    else answer.EncryptionAlgorithms = record.encryptionAlgorithms ?? [];
    return answer;
  },
});

export const sign = defineAction({
  name: 'sign',
  access: { policyAction: 'Sign', keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    message: messageField,
    messagetype: messageTypeField.optional(),
    signingalgorithm: algorithmField,
  }),
  answer: z.object({ KeyId: z.string(), Signature: base64Shape, SigningAlgorithm: z.string() }),
  async handle(input, { keyService }) {
    const result = await keyService.asymmetric.sign({
      keyId: input.keyid,
      message: input.message,
      messageType: input.messagetype,
      signingAlgorithm: input.signingalgorithm,
    });
    return { KeyId: result.keyId, Signature: base64(result.signature), SigningAlgorithm: result.signingAlgorithm };
  },
});

export const verify = defineAction({
  name: 'verify',
  access: { policyAction: 'Verify', keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    message: messageField,
    messagetype: messageTypeField.optional(),
    signature: signatureField,
    signingalgorithm: algorithmField,
  }),
  answer: z.object({ KeyId: z.string(), SignatureValid: z.literal(true), SigningAlgorithm: z.string() }),
  async handle(input, { keyService }) {
    const result = await keyService.asymmetric.verify({
      keyId: input.keyid,
      message: input.message,
      messageType: input.messagetype,
      signature: input.signature,
      signingAlgorithm: input.signingalgorithm,
    });
    return { KeyId: result.keyId, SignatureValid: true, SigningAlgorithm: result.signingAlgorithm };
  },
});
