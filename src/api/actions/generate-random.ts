import { z } from 'zod';
import { base64, defineAction } from '../action.js';
import { base64Shape } from '../answer-shapes.js';

export const generateRandom = defineAction({
  name: 'generaterandom',
  access: { policyAction: 'GenerateRandom' },
  schema: z.object({ numberofbytes: z.number().int().min(1).max(1024) }),
  answer: z.object({ Plaintext: base64Shape }),
  handle(input, { keyService }) {
    return { Plaintext: base64(keyService.generateRandom({ numberOfBytes: input.numberofbytes })) };
  },
});
