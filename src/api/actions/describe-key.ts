import { z } from 'zod';
import { defineAction, onKeyId } from '../action.js';
import { keyIdField } from '../fields.js';
import { emptyAnswer, keyMetadataShape } from '../answer-shapes.js';

export const describeKey = defineAction({
  name: 'describekey',
  access: { policyAction: 'DescribeKey', keys: onKeyId },
  schema: z.object({ keyid: keyIdField }),
  answer: z.object({ KeyMetadata: keyMetadataShape }),
  async handle(input, { keyService }) {
    return { KeyMetadata: await keyService.describeKey({ keyId: input.keyid }) };
  },
});

export const updateKeyDescription = defineAction({
  name: 'updatekeydescription',
  access: { policyAction: 'UpdateKeyDescription', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField, description: z.string().max(8192) }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.updateKeyDescription({ keyId: input.keyid, description: input.description }, caller);
    return {};
  },
});
