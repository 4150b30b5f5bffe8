import { z } from 'zod';
import { defineAction } from '../action.js';
import { keyIdField } from '../fields.js';

export const describeKey = defineAction({
  name: 'describekey',
  schema: z.object({ keyid: keyIdField }),
  async handle(input, { keyService }) {
    return { KeyMetadata: await keyService.describeKey(input.keyid) };
  },
});
