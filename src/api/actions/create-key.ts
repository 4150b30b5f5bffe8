import { z } from 'zod';
import { defineAction } from '../action.js';
import { tagsField } from '../fields.js';
import { UnsupportedOperationException } from '../../errors.js';
import { keyMetadataShape } from '../answer-shapes.js';

export const createKey = defineAction({
  name: 'createkey',
  access: { policyAction: 'CreateKey', changesState: true },
  schema: z.object({
    description: z.string().max(8192).optional(),
    keyspec: z.string().min(1).max(64).optional(),
    customermasterkeyspec: z.string().min(1).max(64).optional(),
    keyusage: z.string().min(1).max(64).optional(),
    origin: z.string().min(1).max(64).optional(),
    providerkeyid: z.string().min(1).max(2048).optional(),
    tags: tagsField.optional(),
    // AWS fields Keyhold has no counterpart for: refused rather than ignored, so that nobody
    // believes a key policy or a replica protects a key when none does.
    policy: z.string().max(32768).optional(),
    multiregion: z.boolean().optional(),
    customkeystoreid: z.string().max(64).optional(),
    xkskeyid: z.string().max(128).optional(),
    bypasspolicylockoutsafetycheck: z.boolean().optional(),
  }),
  answer: z.object({ KeyMetadata: keyMetadataShape }),
  async handle(input, { keyService, caller, dialect }) {
    if (input.policy !== undefined) {
      throw new UnsupportedOperationException("Keyhold does not use key policies: a credential's policy decides what it may do (keyhold credentials update-policy)");
    }
    if (input.multiregion === true) throw new UnsupportedOperationException('Keyhold does not support multi-Region keys');
    if (input.customkeystoreid !== undefined || input.xkskeyid !== undefined) throw new UnsupportedOperationException('Keyhold does not support custom key stores');
    // On the AWS door Origin AWS_KMS means what it means to AWS: the service makes the key. On
    // the native API, with ProviderKeyId, it registers a key that lives in AWS KMS.
    const origin = dialect === 'aws' && input.origin === 'AWS_KMS' && input.providerkeyid === undefined ? undefined : input.origin;
    const keyMetadata = await keyService.createKey(
      {
        description: input.description,
        keySpec: input.keyspec ?? input.customermasterkeyspec,
        keyUsage: input.keyusage,
        origin,
        providerKeyId: input.providerkeyid,
        tags: input.tags,
      },
      caller,
    );
    return { KeyMetadata: keyMetadata };
  },
});
