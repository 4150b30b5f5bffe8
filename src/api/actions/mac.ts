import { z } from 'zod';
import { MAX_MAC_MESSAGE_BYTES } from '../../crypto/mac.js';
import { base64, defineAction, onKeyId } from '../action.js';
import { algorithmField, bytesField, keyIdField } from '../fields.js';
import { base64Shape } from '../answer-shapes.js';

const messageField = bytesField(1, MAX_MAC_MESSAGE_BYTES);
// AWS KMS takes a Mac of up to 6144 bytes; one of the wrong length is simply not valid.
const macField = bytesField(1, 6144);

// GrantTokens and DryRun, like every other field Keyhold has no use for, are ignored.

export const generateMac = defineAction({
  name: 'generatemac',
  access: { policyAction: 'GenerateMac', keys: onKeyId },
  schema: z.object({ keyid: keyIdField, message: messageField, macalgorithm: algorithmField }),
  answer: z.object({ Mac: base64Shape, MacAlgorithm: z.string(), KeyId: z.string() }),
  async handle(input, { keyService }) {
    const result = await keyService.generateMac({ keyId: input.keyid, message: input.message, macAlgorithm: input.macalgorithm });
    return { Mac: base64(result.mac), MacAlgorithm: result.macAlgorithm, KeyId: result.keyId };
  },
});

export const verifyMac = defineAction({
  name: 'verifymac',
  access: { policyAction: 'VerifyMac', keys: onKeyId },
  schema: z.object({ keyid: keyIdField, message: messageField, mac: macField, macalgorithm: algorithmField }),
  answer: z.object({ KeyId: z.string(), MacValid: z.literal(true), MacAlgorithm: z.string() }),
  async handle(input, { keyService }) {
    const result = await keyService.verifyMac({ keyId: input.keyid, message: input.message, mac: input.mac, macAlgorithm: input.macalgorithm });
    return { KeyId: result.keyId, MacValid: true, MacAlgorithm: result.macAlgorithm };
  },
});
