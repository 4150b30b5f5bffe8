import { z } from 'zod';
import { defineAction } from '../action.js';
import { keyIdField, tagsField } from '../fields.js';

export const tagResource = defineAction({
  name: 'tagresource',
  schema: z.object({ keyid: keyIdField, tags: tagsField }),
  async handle(input, { keyService, principal }) {
    await keyService.tagResource(input.keyid, input.tags, { principal: principal.accessKeyId });
    return {};
  },
});

export const untagResource = defineAction({
  name: 'untagresource',
  schema: z.object({ keyid: keyIdField, tagkeys: z.array(z.string().max(1024)).max(1000) }),
  async handle(input, { keyService, principal }) {
    await keyService.untagResource(input.keyid, input.tagkeys, { principal: principal.accessKeyId });
    return {};
  },
});

export const listResourceTags = defineAction({
  name: 'listresourcetags',
  schema: z.object({
    keyid: keyIdField,
    limit: z.number().int().min(1).max(50).optional(),
    marker: z.string().min(1).max(1024).optional(),
  }),
  async handle(input, { keyService }) {
    const page = await keyService.listResourceTags({ keyId: input.keyid, limit: input.limit, marker: input.marker });
    return { Tags: page.tags, Truncated: page.truncated, ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) };
  },
});
