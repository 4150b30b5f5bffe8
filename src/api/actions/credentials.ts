import { z } from 'zod';
import { base64, defineAction } from '../action.js';
import { base64Shape, credentialShape, emptyAnswer, pageOf } from '../answer-shapes.js';

// Access key ids are `KH` + 18 base32 characters; anything longer is no access key id.
const accessKeyIdField = z.string().min(1).max(128);
// A policy is a JSON object or its JSON text (as AWS passes policies); its size and shape
// are checked by the policy language itself (src/auth/policy.ts), naming the statement at fault.
const policyField = z.union([z.string().max(64 * 1024), z.record(z.string(), z.unknown())]);
const admin = { adminOnly: true, changesState: true } as const;

export const createCredential = defineAction({
  name: 'createcredential',
  access: { policyAction: 'CreateCredential', ...admin },
  schema: z.object({ description: z.string().max(8192).optional(), admin: z.boolean().optional(), policy: policyField.optional() }),
  answer: z.object({ Credential: credentialShape, SecretKey: base64Shape }),
  async handle(input, { credentials, caller }) {
    const { credential, secretKey } = await credentials.create({ description: input.description, admin: input.admin, policy: input.policy }, caller);
    try {
      return { Credential: credential, SecretKey: base64(secretKey) };
    } finally {
      secretKey.fill(0);
    }
  },
});

export const listCredentials = defineAction({
  name: 'listcredentials',
  access: { policyAction: 'ListCredentials', adminOnly: true },
  schema: z.object({ limit: z.number().int().optional(), marker: z.string().min(1).max(1024).optional() }),
  answer: pageOf('Credentials', credentialShape),
  async handle(input, { credentials }) {
    const page = await credentials.list({ limit: input.limit, marker: input.marker });
    return { Credentials: page.credentials, Truncated: page.truncated, ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}) };
  },
});

export const describeCredential = defineAction({
  name: 'describecredential',
  access: { policyAction: 'DescribeCredential', adminOnly: true },
  schema: z.object({ accesskeyid: accessKeyIdField }),
  answer: z.object({ Credential: credentialShape }),
  async handle(input, { credentials }) {
    return { Credential: await credentials.describe({ accessKeyId: input.accesskeyid }) };
  },
});

export const updateCredentialPolicy = defineAction({
  name: 'updatecredentialpolicy',
  access: { policyAction: 'UpdateCredentialPolicy', ...admin },
  schema: z.object({ accesskeyid: accessKeyIdField, policy: policyField }),
  answer: z.object({ Credential: credentialShape }),
  async handle(input, { credentials, caller }) {
    return { Credential: await credentials.updatePolicy({ accessKeyId: input.accesskeyid, policy: input.policy }, caller) };
  },
});

export const enableCredential = defineAction({
  name: 'enablecredential',
  access: { policyAction: 'EnableCredential', ...admin },
  schema: z.object({ accesskeyid: accessKeyIdField }),
  answer: emptyAnswer,
  async handle(input, { credentials, caller }) {
    await credentials.setEnabled({ accessKeyId: input.accesskeyid, enabled: true }, caller);
    return {};
  },
});

export const disableCredential = defineAction({
  name: 'disablecredential',
  access: { policyAction: 'DisableCredential', ...admin },
  schema: z.object({ accesskeyid: accessKeyIdField }),
  answer: emptyAnswer,
  async handle(input, { credentials, caller }) {
    await credentials.setEnabled({ accessKeyId: input.accesskeyid, enabled: false }, caller);
    return {};
  },
});

export const deleteCredential = defineAction({
  name: 'deletecredential',
  access: { policyAction: 'DeleteCredential', ...admin },
  schema: z.object({ accesskeyid: accessKeyIdField }),
  answer: emptyAnswer,
  async handle(input, { credentials, caller }) {
    await credentials.remove({ accessKeyId: input.accesskeyid }, caller);
    return {};
  },
});
