import { z } from 'zod';
import { defineAction } from '../action.js';
import { keyIdField } from '../fields.js';
import { aliasEntryShape, emptyAnswer, pageOf } from '../answer-shapes.js';

const aliasName = z.string().min(1).max(256);

export const createAlias = defineAction({
  name: 'createalias',
  access: { policyAction: 'CreateAlias', changesState: true, keys: () => [{ field: 'targetkeyid' }] },
  schema: z.object({ aliasname: aliasName, targetkeyid: keyIdField }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.aliases.create({ aliasName: input.aliasname, targetKeyId: input.targetkeyid }, caller);
    return {};
  },
});

export const updateAlias = defineAction({
  name: 'updatealias',
  access: { policyAction: 'UpdateAlias', changesState: true, keys: () => [{ field: 'aliasname' }, { field: 'targetkeyid' }] },
  schema: z.object({ aliasname: aliasName, targetkeyid: keyIdField }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.aliases.update({ aliasName: input.aliasname, targetKeyId: input.targetkeyid }, caller);
    return {};
  },
});

export const deleteAlias = defineAction({
  name: 'deletealias',
  access: { policyAction: 'DeleteAlias', changesState: true, keys: () => [{ field: 'aliasname' }] },
  schema: z.object({ aliasname: aliasName }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.aliases.delete({ aliasName: input.aliasname }, caller);
    return {};
  },
});

export const listAliases = defineAction({
  name: 'listaliases',
  access: { policyAction: 'ListAliases' },
  schema: z.object({
    keyid: keyIdField.optional(),
    limit: z.number().int().min(1).max(100).optional(),
    marker: z.string().min(1).max(1024).optional(),
  }),
  answer: pageOf('Aliases', aliasEntryShape),
  async handle(input, { keyService }) {
    const page = await keyService.aliases.list({ keyId: input.keyid, limit: input.limit, marker: input.marker });
    return { Aliases: page.aliases, Truncated: page.truncated, ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) };
  },
});
