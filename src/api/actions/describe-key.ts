import { z } from 'zod';
import { defineAction, onKeyId } from '../action.js';
import { keyIdField } from '../fields.js';

export const describeKey = defineAction({
  name: 'describekey',
  access: { policyAction: 'DescribeKey', keys: onKeyId },
  schema: z.object({ keyid: keyIdField }),
  async handle(input, { keyService }) {
    return { KeyMetadata: await keyService.describeKey(input.keyid) };
  },
});
