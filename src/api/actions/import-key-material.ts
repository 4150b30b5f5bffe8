import { z } from 'zod';
import { base64, defineAction, onKeyId } from '../action.js';
import { bytesField, keyIdField } from '../fields.js';
import { base64Shape, timestampShape } from '../answer-shapes.js';

/** ValidTo as AWS clients send it (epoch seconds) or as the native API does (RFC 3339), as RFC 3339. */
const validToField = z.union([z.number(), z.string().max(64)]).transform((value, ctx): string => {
  const date = typeof value === 'number' ? new Date(value * 1000) : /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'must be epoch seconds or an RFC 3339 date such as 2027-06-01T00:00:00Z' });
    return z.NEVER;
  }
  return date.toISOString();
});

/** Algorithm and spec names are checked by the KMS layer (src/kms/imports.ts); here only their shape. */
const nameField = z.string().min(1).max(64);

export const getParametersForImport = defineAction({
  name: 'getparametersforimport',
  access: { policyAction: 'GetParametersForImport', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField, wrappingalgorithm: nameField, wrappingkeyspec: nameField }),
  answer: z.object({ KeyId: z.string(), ImportToken: base64Shape, PublicKey: base64Shape, ParametersValidTo: timestampShape }),
  async handle(input, { keyService, caller }) {
    const result = await keyService.imports.getParametersForImport(
      { keyId: input.keyid, wrappingAlgorithm: input.wrappingalgorithm, wrappingKeySpec: input.wrappingkeyspec },
      caller,
    );
    return {
      KeyId: result.keyId,
      ImportToken: base64(result.importToken),
      PublicKey: base64(result.publicKey),
      ParametersValidTo: result.parametersValidTo,
    };
  },
});

export const importKeyMaterial = defineAction({
  name: 'importkeymaterial',
  access: { policyAction: 'ImportKeyMaterial', changesState: true, keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    importtoken: bytesField(1, 6144),
    encryptedkeymaterial: bytesField(1, 6144),
    expirationmodel: z.enum(['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE']).optional(),
    validto: validToField.optional(),
    importtype: z.enum(['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL']).optional(),
    keymaterialid: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits').optional(),
  }),
  answer: z.object({ KeyId: z.string(), KeyMaterialId: z.string() }),
  async handle(input, { keyService, caller }) {
    const result = await keyService.imports.importKeyMaterial(
      {
        keyId: input.keyid,
        importToken: input.importtoken,
        encryptedKeyMaterial: input.encryptedkeymaterial,
        expirationModel: input.expirationmodel,
        validTo: input.validto,
        importType: input.importtype,
        keyMaterialId: input.keymaterialid,
      },
      caller,
    );
    return { KeyId: result.keyId, KeyMaterialId: result.keyMaterialId };
  },
});

export const deleteImportedKeyMaterial = defineAction({
  name: 'deleteimportedkeymaterial',
  access: { policyAction: 'DeleteImportedKeyMaterial', changesState: true, keys: onKeyId },
  schema: z.object({ keyid: keyIdField }),
  answer: z.object({ KeyId: z.string(), KeyMaterialId: z.string().optional() }),
  async handle(input, { keyService, caller }) {
    const result = await keyService.imports.deleteImportedKeyMaterial({ keyId: input.keyid }, caller);
    return { KeyId: result.keyId, ...(result.keyMaterialId ? { KeyMaterialId: result.keyMaterialId } : {}) };
  },
});
