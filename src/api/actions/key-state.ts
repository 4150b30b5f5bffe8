import { z } from 'zod';
import { defineAction, onKeyId } from '../action.js';
import { keyIdField } from '../fields.js';
import { keyMetadataShape, timestampShape } from '../answer-shapes.js';

const keyIdOnly = z.object({ keyid: keyIdField });

export const enableKey = defineAction({
  name: 'enablekey',
  access: { policyAction: 'EnableKey', changesState: true, keys: onKeyId },
  schema: keyIdOnly,
  answer: z.object({ KeyMetadata: keyMetadataShape }),
  async handle(input, { keyService, caller }) {
    return { KeyMetadata: await keyService.enableKey({ keyId: input.keyid }, caller) };
  },
});

export const disableKey = defineAction({
  name: 'disablekey',
  access: { policyAction: 'DisableKey', changesState: true, keys: onKeyId },
  schema: keyIdOnly,
  answer: z.object({ KeyMetadata: keyMetadataShape }),
  async handle(input, { keyService, caller }) {
    return { KeyMetadata: await keyService.disableKey({ keyId: input.keyid }, caller) };
  },
});

export const scheduleKeyDeletion = defineAction({
  name: 'schedulekeydeletion',
  access: { policyAction: 'ScheduleKeyDeletion', changesState: true, keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    pendingwindowindays: z.number().int().min(7).max(30).optional(),
  }),
  answer: z.object({ KeyId: z.string(), DeletionDate: timestampShape, KeyState: z.string(), PendingWindowInDays: z.number().int() }),
  async handle(input, { keyService, caller }) {
    const result = await keyService.scheduleKeyDeletion({ keyId: input.keyid, pendingWindowInDays: input.pendingwindowindays }, caller);
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
  access: { policyAction: 'CancelKeyDeletion', changesState: true, keys: onKeyId },
  schema: keyIdOnly,
  answer: z.object({ KeyId: z.string(), KeyMetadata: keyMetadataShape }),
  async handle(input, { keyService, caller }) {
    const keyMetadata = await keyService.cancelKeyDeletion({ keyId: input.keyid }, caller);
    return { KeyId: keyMetadata.KeyId, KeyMetadata: keyMetadata };
  },
});
