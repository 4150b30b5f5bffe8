import { z } from 'zod';
import { KmsError, ValidationException } from '../../errors.js';
import { defineAction, type Action, type ActionContext, type ItemRecord } from '../action.js';
import { errorAnswerShape } from '../answer-shapes.js';
import { authorize } from '../authorize.js';
import { errorBody, type ErrorAnswer } from '../error-handler.js';
import { normalizeFields, parseRequest } from '../fields.js';
import { isUuid } from '../../kms/key-id.js';
import { BATCH_BODY_BYTES, MAX_BATCH_ITEMS } from '../../protocol/batch-limits.js';
import { decrypt } from './decrypt.js';
import { encrypt } from './encrypt.js';
import { generateDataKey } from './generate-data-key.js';
import { reEncrypt } from './re-encrypt.js';

/** Items run this many at a time: each is mostly CPU, and the store's reads overlap. */
const CONCURRENT_ITEMS = 32;

/**
 * A batch of `single`: `{ "Items": [ … ] }`, each item a request of `single`, answered
 * `{ "Results": [ … ] }` in the items' order, each slot `single`'s answer or `{ "Error": … }`.
 * Each item is validated, authorized (as `single`, on its own key) and run on its own, so one
 * bad item fails only its slot; only the envelope (Items missing, not an array, 0 or more than
 * 1,000 items) fails the request. The request has one audit record, listing every item.
 */
function batchOf(single: Action, policyAction: string): Action {
  return defineAction({
    name: `batch${single.name}`,
    access: { policyAction, perItem: true },
    maxBodyBytes: BATCH_BODY_BYTES,
    schema: z.object({ items: z.array(z.unknown()).min(1).max(MAX_BATCH_ITEMS) }),
    answer: z.object({ Results: z.array(z.union([single.answer, z.object({ Error: errorAnswerShape })])) }),
    async handle(input, context) {
      const slots: object[] = new Array(input.items.length);
      const records: ItemRecord[] = new Array(input.items.length);
      let next = 0;
      const worker = async () => {
        for (let index = next++; index < input.items.length; index = next++) {
          [slots[index], records[index]] = await runItem(single, input.items[index], context);
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENT_ITEMS, input.items.length) }, worker));
      context.recordItems(records);
      return { Results: slots };
    },
  }) as unknown as Action;
}

/** One item: its answer or `{ Error }`, and what its audit record says. Throws only what is no item's fault. */
async function runItem(single: Action, item: unknown, context: ActionContext): Promise<[object, ItemRecord]> {
  const record: ItemRecord = { keyId: null, outcome: 'Success' };
  let input: Record<string, unknown> | undefined;
  try {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ValidationException('Each item must be a JSON object');
    input = parseRequest(single.schema, normalizeFields(item)) as Record<string, unknown>;
    const contextField = single.access.contextField;
    const encryptionContext = contextField === undefined ? undefined : (input[contextField] as Record<string, string> | undefined);
    if (encryptionContext !== undefined) record.encryptionContext = encryptionContext;
    // Before any key material is touched, as for a single request; a denial says nothing of the key.
    record.keyId = (await authorize(context.principal, single.access, input, context.keyService, (keyId) => (record.keyId = keyId))) ?? null;
    const result = await single.handle(input as never, context);
    record.keyId ??= keyIdOf(result) ?? keyIdOf(input) ?? null;
    return [result, record];
  } catch (error) {
    // Not the item's fault (a fault of Keyhold or its store): the request fails as a whole, 500 or 503, and is logged.
    if (!(error instanceof KmsError)) throw error;
    record.outcome = error.type;
    record.keyId ??= keyIdOf(input) ?? null;
    return [{ Error: errorBody(error) satisfies ErrorAnswer }, record];
  } finally {
    // A refused item never reached the handler that zeroes it.
    if (Buffer.isBuffer(input?.plaintext)) input.plaintext.fill(0);
  }
}

/** The KeyId an answer or an item names, for its audit record. */
function keyIdOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const keyId = (value as { KeyId?: unknown; keyid?: unknown }).KeyId ?? (value as { keyid?: unknown }).keyid;
  return typeof keyId === 'string' && isUuid(keyId) ? keyId.toLowerCase() : undefined;
}

export const batchEncrypt = batchOf(encrypt as unknown as Action, 'BatchEncrypt');
export const batchDecrypt = batchOf(decrypt as unknown as Action, 'BatchDecrypt');
export const batchReEncrypt = batchOf(reEncrypt as unknown as Action, 'BatchReEncrypt');
export const batchGenerateDataKey = batchOf(generateDataKey as unknown as Action, 'BatchGenerateDataKey');
