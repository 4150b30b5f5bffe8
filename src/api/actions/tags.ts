import { z } from 'zod';
import { defineAction, onKeyId } from '../action.js';
import { keyIdField, tagsField } from '../fields.js';
import { emptyAnswer, pageOf, tagShape } from '../answer-shapes.js';

export const tagResource = defineAction({
  name: 'tagresource',
  access: { policyAction: 'TagResource', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField, tags: tagsField }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.tagResource({ keyId: input.keyid, tags: input.tags }, caller);
    return {};
  },
});

export const untagResource = defineAction({
  name: 'untagresource',
  access: { policyAction: 'UntagResource', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField, tagkeys: z.array(z.string().max(1024)).max(1000) }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.untagResource({ keyId: input.keyid, tagKeys: input.tagkeys }, caller);
    return {};
  },
});

export const listResourceTags = defineAction({
  name: 'listresourcetags',
  access: { policyAction: 'ListResourceTags', keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    limit: z.number().int().min(1).max(50).optional(),
    marker: z.string().min(1).max(1024).optional(),
  }),
  answer: pageOf('Tags', tagShape),
  async handle(input, { keyService }) {
    const page = await keyService.listResourceTags({ keyId: input.keyid, limit: input.limit, marker: input.marker });
    return { Tags: page.tags, Truncated: page.truncated, ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) };
  },
});
