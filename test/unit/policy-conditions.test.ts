import { expect } from 'chai';
import { compilePolicy, type PolicyResource } from '../../src/auth/policy.js';

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';

function tagged(tags: Record<string, string>): PolicyResource {
  return { keyId: KEY, aliases: [], tags: new Map(Object.entries(tags)) };
}

/** Whether an Allow of kms:Encrypt on `*` under `Condition` lets this request through. */
function holds(Condition: unknown, context: Record<string, string> | undefined, tags: Record<string, string> = {}): boolean {
  const compiled = compilePolicy({ Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*', Condition }] });
  return compiled.allows({ action: { prefix: 'kms', name: 'Encrypt' }, resource: tagged(tags), encryptionContext: context });
}

const CONTEXT_KEY = 'kms:EncryptionContext:table';

describe('policy: conditions', () => {
  // [operator, values, context entry (undefined: missing), expected]
  const table: [string, string | string[], string | undefined, boolean][] = [
    ['StringEquals', 'orders', 'orders', true],
    ['StringEquals', 'orders', 'Orders', false],
    ['StringEquals', 'orders', undefined, false],
    ['StringEquals', ['billing', 'orders'], 'orders', true],
    ['StringEquals', ['billing', 'orders'], 'users', false],
    ['StringEquals', 'ord*', 'orders', false],
    ['StringEquals', 'ord*', 'ord*', true],
    ['StringEquals', '', '', true],
    ['StringNotEquals', 'orders', 'orders', false],
    ['StringNotEquals', 'orders', 'billing', true],
    ['StringNotEquals', 'orders', undefined, true],
    ['StringNotEquals', ['billing', 'orders'], 'orders', false],
    ['StringNotEquals', ['billing', 'orders'], 'billing', false],
    ['StringNotEquals', ['billing', 'orders'], 'users', true],
    ['StringLike', 'ord*', 'orders', true],
    ['StringLike', 'ord*', 'Orders', false],
    ['StringLike', 'ord?rs', 'orders', true],
    ['StringLike', 'ord?rs', 'ordrs', false],
    ['StringLike', 'ord*', undefined, false],
    ['StringLike', ['bill*', 'ord*'], 'orders', true],
    ['StringLike', ['bill*', 'user*'], 'orders', false],
    ['StringLike', '*', '', true],
    ['StringNotLike', 'ord*', 'orders', false],
    ['StringNotLike', 'ord*', 'billing', true],
    ['StringNotLike', 'ord*', undefined, true],
    ['StringNotLike', ['bill*', 'ord*'], 'orders', false],
    ['StringNotLike', ['bill*', 'user*'], 'orders', true],
  ];
  for (const [operator, values, entry, expected] of table) {
    const shown = entry === undefined ? 'a missing entry' : JSON.stringify(entry);
    it(`${operator} ${JSON.stringify(values)} ${expected ? 'holds' : 'does not hold'} for ${shown}`, () => {
      const context: Record<string, string> = entry === undefined ? { other: 'orders' } : { table: entry };
      expect(holds({ [operator]: { [CONTEXT_KEY]: values } }, context)).to.equal(expected);
    });
  }

  it('treats a request without an encryption context as missing every entry', () => {
    expect(holds({ StringEquals: { [CONTEXT_KEY]: 'orders' } }, undefined)).to.equal(false);
    expect(holds({ StringNotEquals: { [CONTEXT_KEY]: 'orders' } }, undefined)).to.equal(true);
  });

  it('reads only the context\'s own entries, never Object.prototype\'s', () => {
    expect(holds({ StringLike: { 'kms:EncryptionContext:toString': '*' } }, {})).to.equal(false);
    expect(holds({ StringLike: { 'kms:EncryptionContext:constructor': '*' } }, {})).to.equal(false);
    expect(holds({ StringLike: { 'kms:EncryptionContext:__proto__': '*' } }, {})).to.equal(false);
  });

  it('matches the condition key prefix case-insensitively and the entry name exactly', () => {
    expect(holds({ StringEquals: { 'KMS:encryptioncontext:table': 'orders' } }, { table: 'orders' })).to.equal(true);
    expect(holds({ StringEquals: { 'kms:EncryptionContext:Table': 'orders' } }, { table: 'orders' })).to.equal(false);
    expect(holds({ StringEquals: { 'AWS:resourcetag/env': 'prod' } }, undefined, { env: 'prod' })).to.equal(true);
    expect(holds({ StringEquals: { 'aws:ResourceTag/Env': 'prod' } }, undefined, { env: 'prod' })).to.equal(false);
  });

  it('reads resource tags: present, absent, and with no resource at all', () => {
    const condition = { StringEquals: { 'aws:ResourceTag/env': ['prod', 'staging'] } };
    expect(holds(condition, undefined, { env: 'staging' })).to.equal(true);
    expect(holds(condition, undefined, { env: 'test' })).to.equal(false);
    expect(holds(condition, undefined, {})).to.equal(false);
    expect(holds({ StringNotEquals: { 'aws:ResourceTag/env': 'prod' } }, undefined, {})).to.equal(true);
    const compiled = compilePolicy({ Statement: [{ Effect: 'Allow', Action: 'kms:CreateKey', Resource: '*', Condition: { StringNotLike: { 'aws:ResourceTag/env': 'prod' } } }] });
    expect(compiled.allows({ action: { prefix: 'kms', name: 'CreateKey' } })).to.equal(true);
  });

  it('requires every key under an operator to hold', () => {
    const condition = { StringEquals: { [CONTEXT_KEY]: 'orders', 'kms:EncryptionContext:region': 'eu' } };
    expect(holds(condition, { table: 'orders', region: 'eu' })).to.equal(true);
    expect(holds(condition, { table: 'orders', region: 'us' })).to.equal(false);
    expect(holds(condition, { table: 'orders' })).to.equal(false);
  });

  it('requires every operator to hold', () => {
    const condition = { StringLike: { [CONTEXT_KEY]: 'ord*' }, StringNotEquals: { 'aws:ResourceTag/env': 'prod' } };
    expect(holds(condition, { table: 'orders' }, { env: 'test' })).to.equal(true);
    expect(holds(condition, { table: 'orders' }, { env: 'prod' })).to.equal(false);
    expect(holds(condition, { table: 'users' }, { env: 'test' })).to.equal(false);
  });

  it('treats the same key under two operators as two conditions that must both hold', () => {
    const condition = { StringLike: { [CONTEXT_KEY]: 'ord*' }, StringNotEquals: { [CONTEXT_KEY]: 'orders-archive' } };
    expect(holds(condition, { table: 'orders' })).to.equal(true);
    expect(holds(condition, { table: 'orders-archive' })).to.equal(false);
  });

  it('StringLike counts a character outside the BMP as one "?"', () => {
    expect(holds({ StringLike: { [CONTEXT_KEY]: 'a?b' } }, { table: 'a\u{1F600}b' })).to.equal(true);
    expect(holds({ StringLike: { [CONTEXT_KEY]: 'a??b' } }, { table: 'a\u{1F600}b' })).to.equal(false);
  });
});

describe('policy: the compiled document', () => {
  const written = {
    Version: '2012-10-17',
    Statement: [
      { Resource: 'alias/orders', Action: ['kms:Encrypt', 'kms:Decrypt'], Effect: 'Allow', Sid: 'orders', Condition: { StringEquals: { [CONTEXT_KEY]: 'orders' } } },
      { Effect: 'Deny', Action: 'kms:*', Resource: ['*'] },
    ],
  };

  it('keeps what was written, fields in a fixed order', () => {
    const { document } = compilePolicy(written);
    expect(JSON.stringify(document)).to.equal(
      '{"Version":"2012-10-17","Statement":[{"Sid":"orders","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"alias/orders",' +
        '"Condition":{"StringEquals":{"kms:EncryptionContext:table":"orders"}}},{"Effect":"Deny","Action":"kms:*","Resource":["*"]}]}',
    );
  });

  it('is the same for the JSON text, and compiles again to itself', () => {
    const fromText = compilePolicy(JSON.stringify(written, null, 2)).document;
    expect(fromText).to.deep.equal(compilePolicy(written).document);
    expect(compilePolicy(fromText).document).to.deep.equal(fromText);
  });

  it('keeps one statement object as one object', () => {
    const { document } = compilePolicy({ Statement: { Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' } });
    expect(document).to.deep.equal({ Statement: { Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' } });
  });

  it('is frozen, and changing the input afterwards changes neither it nor the decisions', () => {
    const input = structuredClone(written);
    const compiled = compilePolicy(input);
    expect(Object.isFrozen(compiled.document)).to.equal(true);
    expect(Object.isFrozen((compiled.document as typeof written).Statement[0]?.Action)).to.equal(true);
    input.Statement[1]!.Effect = 'Allow';
    (input.Statement[0]!.Action as string[]).push('kms:ScheduleKeyDeletion');
    expect(compiled.allows({ action: { prefix: 'kms', name: 'Encrypt' }, resource: tagged({}) })).to.equal(false);
    expect(compiled.document).to.deep.equal(compilePolicy(written).document);
  });
});
