import { z } from 'zod';
import { defineAction, onKeyId } from '../action.js';
import { keyIdField } from '../fields.js';
import { emptyAnswer, pageOf, rotationStatusShape, timestampShape } from '../answer-shapes.js';

export const rotateKeyOnDemand = defineAction({
  name: 'rotatekeyondemand',
  access: { policyAction: 'RotateKeyOnDemand', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField }),
  answer: z.object({ KeyId: z.string(), CurrentKeyVersion: z.number().int() }),
  async handle(input, { keyService, caller }) {
    const result = await keyService.rotation.rotateOnDemand({ keyId: input.keyid }, caller);
    return { KeyId: result.keyId, CurrentKeyVersion: result.currentVersion };
  },
});

export const enableKeyRotation = defineAction({
  name: 'enablekeyrotation',
  access: { policyAction: 'EnableKeyRotation', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField, rotationperiodindays: z.number().int().min(90).max(2560).optional() }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.rotation.enable({ keyId: input.keyid, rotationPeriodInDays: input.rotationperiodindays }, caller);
    return {};
  },
});

export const disableKeyRotation = defineAction({
  name: 'disablekeyrotation',
  access: { policyAction: 'DisableKeyRotation', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField }),
  answer: emptyAnswer,
  async handle(input, { keyService, caller }) {
    await keyService.rotation.disable({ keyId: input.keyid }, caller);
    return {};
  },
});

export const getKeyRotationStatus = defineAction({
  name: 'getkeyrotationstatus',
  access: { policyAction: 'GetKeyRotationStatus', keys: onKeyId },
  schema: z.object({ keyid: keyIdField }),
  answer: rotationStatusShape,
  handle(input, { keyService }) {
    return keyService.rotation.status({ keyId: input.keyid });
  },
});

export const listKeyRotations = defineAction({
  name: 'listkeyrotations',
  access: { policyAction: 'ListKeyRotations', keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    limit: z.number().int().min(1).max(1000).optional(),
    marker: z.string().min(1).max(1024).optional(),
  }),
  answer: pageOf('Rotations', z.object({ KeyId: z.string(), RotationDate: timestampShape, RotationType: z.enum(['AUTOMATIC', 'ON_DEMAND']) })),
  async handle(input, { keyService }) {
    const page = await keyService.rotation.list({ keyId: input.keyid, limit: input.limit, marker: input.marker });
    return { Rotations: page.rotations, Truncated: page.truncated, ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) };
  },
});
