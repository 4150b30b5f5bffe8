import { z } from 'zod';
import { defineAction } from '../action.js';
import { keyIdField } from '../fields.js';

const keyIdOnly = z.object({ keyid: keyIdField });

export const enableKey = defineAction({
  name: 'enablekey',
  schema: keyIdOnly,
  async handle(input, { keyService, principal }) {
    return { KeyMetadata: await keyService.enableKey(input.keyid, { principal: principal.accessKeyId }) };
  },
});

export const disableKey = defineAction({
  name: 'disablekey',
  schema: keyIdOnly,
  async handle(input, { keyService, principal }) {
    return { KeyMetadata: await keyService.disableKey(input.keyid, { principal: principal.accessKeyId }) };
  },
});

export const scheduleKeyDeletion = defineAction({
  name: 'schedulekeydeletion',
  schema: z.object({
    keyid: keyIdField,
    pendingwindowindays: z.number().int().min(7).max(30).optional(),
  }),
  async handle(input, { keyService, principal }) {
    const result = await keyService.scheduleKeyDeletion(input.keyid, input.pendingwindowindays, {
      principal: principal.accessKeyId,
    });
    return {
      KeyId: result.keyId,
      DeletionDate: result.deletionDate,
      KeyState: result.keyState,
      PendingWindowInDays: result.pendingWindowInDays,
    };
  },
});

export const cancelKeyDeletion = defineAction({
  name: 'cancelkeydeletion',
  schema: keyIdOnly,
  async handle(input, { keyService, principal }) {
    const keyMetadata = await keyService.cancelKeyDeletion(input.keyid, { principal: principal.accessKeyId });
    return { KeyId: keyMetadata.KeyId, KeyMetadata: keyMetadata };
  },
});
