import { z } from 'zod';
import { defineAction, onKeyId } from '../action.js';
import { keyIdField } from '../fields.js';
import { UnsupportedOperationException } from '../../errors.js';
import { emptyAnswer } from '../answer-shapes.js';

/**
 * Key policies, as far as Keyhold has them: none. A credential's policy decides what it may do
 * (docs/policies.md). Tools that read a key's policy (Terraform, SOPS, audits) get AWS's
 * default key policy, which says exactly that: the account's own principals decide; changing
 * it is refused with a message that says where access is granted instead.
 */
export const DEFAULT_KEY_POLICY_NAME = 'default';

export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
}

const policyNameField = z.string().min(1).max(128).regex(/^[\w]+$/, 'must be a policy name (letters, digits and _)');

export const getKeyPolicy = defineAction({
  name: 'getkeypolicy',
  access: { policyAction: 'GetKeyPolicy', keys: onKeyId },
  schema: z.object({ keyid: keyIdField, policyname: policyNameField.optional() }),
  answer: z.object({ Policy: z.string(), PolicyName: z.string() }),
  async handle(input, { keyService, aws }) {
    // The key must exist (NotFoundException otherwise), as for any key action.
    await keyService.describeKey({ keyId: input.keyid });
    if (input.policyname !== undefined && input.policyname !== DEFAULT_KEY_POLICY_NAME) {
      throw new UnsupportedOperationException(`A key has one policy, named '${DEFAULT_KEY_POLICY_NAME}'`);
    }
    return { Policy: defaultKeyPolicy(aws.accountId), PolicyName: DEFAULT_KEY_POLICY_NAME };
  },
});

export const listKeyPolicies = defineAction({
  name: 'listkeypolicies',
  access: { policyAction: 'ListKeyPolicies', keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    limit: z.number().int().min(1).max(1000).optional(),
    marker: z.string().min(1).max(1024).optional(),
  }),
  answer: z.object({ PolicyNames: z.array(z.string()), Truncated: z.boolean() }),
  async handle(input, { keyService }) {
    await keyService.describeKey({ keyId: input.keyid });
    return { PolicyNames: [DEFAULT_KEY_POLICY_NAME], Truncated: false };
  },
});

export const putKeyPolicy = defineAction({
  name: 'putkeypolicy',
  access: { policyAction: 'PutKeyPolicy', changesState: true, keys: onKeyId },
  schema: z.object({
    keyid: keyIdField,
    policy: z.string().min(1).max(32768),
    policyname: policyNameField.optional(),
    bypasspolicylockoutsafetycheck: z.boolean().optional(),
  }),
  answer: emptyAnswer,
  async handle(input, { keyService }) {
    await keyService.describeKey({ keyId: input.keyid });
    throw new UnsupportedOperationException(
      'Keyhold does not use key policies: a credential\'s policy decides what it may do (keyhold credentials update-policy)',
    );
  },
});
