import { z } from 'zod';
import { defineAction } from '../action.js';
import { keyMetadataShape, pageOf } from '../answer-shapes.js';

export const listKeys = defineAction({
  name: 'listkeys',
  access: { policyAction: 'ListKeys' },
  schema: z.object({
    limit: z.number().int().min(1).max(1000).optional(),
    marker: z.string().min(1).max(1024).optional(),
  }),
  answer: pageOf('Keys', keyMetadataShape).extend({
    KeyMetadata: z.array(keyMetadataShape).optional().meta({ description: 'go-kms prefix only: the same list, where go-kms clients read it' }),
  }),
  async handle(input, { keyService, dialect }) {
    const page = await keyService.listKeys({ limit: input.limit, marker: input.marker });
    const response: Record<string, unknown> = { Keys: page.keys, Truncated: page.truncated };
    if (page.nextMarker !== undefined) response.NextMarker = page.nextMarker;
    // go-kms answered listkeys with the list under KeyMetadata; go-kms-cli reads it there.
    if (dialect === 'go-kms') response.KeyMetadata = page.keys;
    return response;
  },
});
