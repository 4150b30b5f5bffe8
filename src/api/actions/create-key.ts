import { z } from 'zod';
import { defineAction } from '../action.js';
import { tagsField } from '../fields.js';

export const createKey = defineAction({
  name: 'createkey',
  access: { policyAction: 'CreateKey', changesState: true },
  schema: z.object({
    description: z.string().max(8192).optional(),
    keyspec: z.string().min(1).max(64).optional(),
    customermasterkeyspec: z.string().min(1).max(64).optional(),
    keyusage: z.string().min(1).max(64).optional(),
    origin: z.string().min(1).max(64).optional(),
    providerkeyid: z.string().min(1).max(2048).optional(),
    tags: tagsField.optional(),
  }),
  async handle(input, { keyService, caller }) {
    const keyMetadata = await keyService.createKey(
      {
        description: input.description,
        keySpec: input.keyspec ?? input.customermasterkeyspec,
        keyUsage: input.keyusage,
        origin: input.origin,
        providerKeyId: input.providerkeyid,
        tags: input.tags,
      },
      caller,
    );
    return { KeyMetadata: keyMetadata };
  },
});
