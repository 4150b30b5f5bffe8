import { expect } from 'chai';
import { z } from 'zod';
import { actions } from '../../src/api/actions/index.js';
import { displayName, parseRequest } from '../../src/api/fields.js';
import { loadConfig } from '../../src/config.js';
import { KmsError, StartupError } from '../../src/errors.js';

/** Words of the schema library's own messages, which must never reach a caller. */
const LIBRARY_WORDING = /expected|received|Too big|Too small|Invalid input|Invalid option|Invalid string|<=|>=|characters.*base64/i;

/** Values of every JSON kind, at and past the usual limits: each field refuses some of them. */
const WRONG_VALUES: ReadonlyArray<[string, unknown]> = [
  ['a fraction', 12.5],
  ['a negative number', -1],
  ['a huge number', 10 ** 9],
  ['a word', 'text'],
  ['an empty string', ''],
  ['a very long string', 'A'.repeat(70_000)],
  ['true', true],
  ['a list', [1]],
  ['an empty list', []],
  ['an object', { a: 1 }],
];

/** A request's message when `fields` fail `schema`, and that it is a ValidationException. */
function refusal(schema: z.ZodType, fields: Record<string, unknown>): string | undefined {
  try {
    parseRequest(schema, fields);
    return undefined;
  } catch (error) {
    expect(error).to.be.instanceOf(KmsError);
    expect((error as KmsError).type).to.equal('ValidationException');
    return (error as Error).message;
  }
}

function fieldsOf(schema: z.ZodType): Record<string, z.ZodType> {
  return (schema as unknown as z.ZodObject).shape as Record<string, z.ZodType>;
}

describe('validation messages in people\'s words', () => {
  for (const action of actions.values()) {
    describe(action.name, () => {
      for (const [field, fieldSchema] of Object.entries(fieldsOf(action.schema))) {
        const name = displayName(field);
        const alone = z.object({ [field]: fieldSchema });

        it(`${name}: a wrong value is refused naming ${name}, in no schema-library wording`, () => {
          let refused = 0;
          for (const [what, value] of WRONG_VALUES) {
            const message = refusal(alone, { [field]: value });
            if (message === undefined) continue;
            refused++;
            expect(message, `${what}: ${message}`).to.match(new RegExp(`^${name}\\b`));
            expect(message, `${what}: ${message}`).not.to.match(LIBRARY_WORDING);
          }
          // Recipient is any value (refused later, as unsupported); every other field refuses some.
          if (field !== 'recipient') expect(refused, 'values refused').to.be.greaterThan(0);
        });

        if (!fieldSchema.safeParse(undefined).success) {
          it(`${name}: leaving it out says "${name} is required"`, () => {
            expect(refusal(alone, {})).to.equal(`${name} is required`);
          });
        }
      }

      it('several problems at once: counted, the first three told, no schema-library wording', () => {
        const fields = Object.fromEntries(Object.keys(fieldsOf(action.schema)).map((field) => [field, { wrong: true }]));
        const message = refusal(action.schema, fields);
        if (message === undefined) return expect(action.name).to.equal('generatedatakeypair'); // never: a KeyId cannot be an object
        expect(message).not.to.match(LIBRARY_WORDING);
      });
    });
  }

  describe('limits in the caller\'s units', () => {
    const encrypt = actions.get('encrypt')!.schema;
    const keyid = 'alias/a';

    it('Plaintext over 4096 bytes: its limit in bytes, and where to go instead', () => {
      const plaintext = Buffer.alloc(4097, 1).toString('base64');
      expect(refusal(encrypt, { keyid, plaintext })).to.equal(
        'Plaintext is at most 4096 bytes; use encrypt-file for files (or encrypt under a data key from GenerateDataKey)',
      );
      // Far over: refused on the base64 length before decoding, in the same words.
      expect(refusal(encrypt, { keyid, plaintext: 'A'.repeat(70_000) })).to.match(/^Plaintext is at most 4096 bytes;/);
      expect(refusal(encrypt, { keyid, plaintext: Buffer.alloc(4096, 1).toString('base64') })).to.equal(undefined);
    });

    it('an empty Plaintext, and one that is not base64', () => {
      expect(refusal(encrypt, { keyid, plaintext: '' })).to.equal('Plaintext must not be empty');
      expect(refusal(encrypt, { keyid, plaintext: 'not base64!' })).to.equal('Plaintext must be standard base64');
    });

    it('numbers, lists, choices and nested fields', () => {
      expect(refusal(actions.get('listkeys')!.schema, { limit: 1001 })).to.equal('Limit is at most 1000');
      expect(refusal(actions.get('listkeys')!.schema, { limit: 0 })).to.equal('Limit is at least 1');
      expect(refusal(actions.get('listkeys')!.schema, { limit: 1.5 })).to.equal('Limit must be a whole number');
      expect(refusal(actions.get('listkeys')!.schema, { limit: '10' })).to.equal('Limit must be a number');
      expect(refusal(actions.get('generatedatakey')!.schema, { keyid, keyspec: 'AES_512' })).to.equal('KeySpec must be one of AES_256, AES_128');
      expect(refusal(actions.get('createkey')!.schema, { tags: [{ TagKey: 1, TagValue: 'v' }] })).to.equal('Tags[0].TagKey must be a string');
      expect(refusal(actions.get('batchencrypt')!.schema, { items: [] })).to.equal('Items has at least 1 item');
      expect(refusal(actions.get('listauditevents')!.schema, { starttime: true })).to.equal('StartTime must be a number or a string');
      expect(refusal(actions.get('describekey')!.schema, { keyid: 'k'.repeat(2049) })).to.equal('KeyId is at most 2048 characters');
    });

    it('three problems are told and counted', () => {
      expect(refusal(actions.get('generatedatakey')!.schema, { numberofbytes: 0, keyspec: 'X' })).to.equal(
        '3 problems with the request: KeyId is required; KeySpec must be one of AES_256, AES_128; NumberOfBytes is at least 1',
      );
    });
  });

  describe('server settings', () => {
    it('a bad setting is told as the variable and its rule, in no schema-library wording and without its value', () => {
      const cases: Array<[Record<string, string>, string]> = [
        [{ KEYHOLD_WORKERS: '0' }, 'KEYHOLD_WORKERS: is at least 1'],
        [{ KEYHOLD_PORT: '70000' }, 'KEYHOLD_PORT: is at most 65535'],
        [{ KEYHOLD_PORT: 'http' }, 'KEYHOLD_PORT: must be a whole number'],
        [{ KEYHOLD_LOG_FORMAT: 'colourful' }, 'KEYHOLD_LOG_FORMAT: must be one of json, pretty'],
        [{ KEYHOLD_KDF: 'md5' }, 'KEYHOLD_KDF: must be one of pbkdf2, argon2id'],
        [{ KEYHOLD_GOKMS_AUTH_KEY: 'short secret' }, 'KEYHOLD_GOKMS_AUTH_KEY: must be at least 16 characters'],
      ];
      for (const [env, expected] of cases) {
        expect(() => loadConfig(env)).to.throw(StartupError).with.property('message', expected);
        expect(expected).not.to.match(LIBRARY_WORDING);
        expect(expected).not.to.contain(Object.values(env)[0]);
      }
    });
  });
});
