import { expect } from 'chai';
import fc from 'fast-check';
import { compilePolicy, POLICY_ACTIONS, type PolicyRequest } from '../../src/auth/policy.js';

const KEYS = ['1234abcd-12ab-34cd-56ef-1234567890ab', '99999999-0000-4000-8000-000000000000'];

const statement = fc.record({
  Effect: fc.constantFrom('Allow', 'Deny'),
  Action: fc.constantFrom('*', 'kms:*', 'kms:Encrypt', 'kms:*crypt', 'kms:GenerateDataKey*', 'keyhold:ListAuditEvents', 'kms:List*'),
  Resource: fc.constantFrom('*', 'key/*', `key/${KEYS[0]}`, 'key/9*', 'alias/orders', 'alias/orders-*', 'keyhold:alias/b?'),
  Condition: fc.option(
    fc.constantFrom(
      { StringEquals: { 'kms:EncryptionContext:table': 'orders' } },
      { StringNotEquals: { 'aws:ResourceTag/env': ['prod', 'staging'] } },
      { StringLike: { 'kms:EncryptionContext:table': 'ord*' } },
      { StringNotLike: { 'kms:EncryptionContext:table': '*-archive' }, StringEquals: { 'aws:ResourceTag/team': 'a' } },
    ),
    { nil: undefined },
  ),
}).map(({ Condition, ...rest }) => (Condition === undefined ? rest : { ...rest, Condition }));

const request: fc.Arbitrary<PolicyRequest> = fc.record({
  action: fc.constantFrom(...POLICY_ACTIONS),
  resource: fc.option(
    fc.record({
      keyId: fc.option(fc.constantFrom(...KEYS), { nil: undefined }),
      aliases: fc.subarray(['alias/orders', 'alias/orders-eu', 'alias/b1', 'alias/other']),
      tags: fc.constantFrom(new Map(), new Map([['env', 'prod']]), new Map([['team', 'a'], ['env', 'test']])),
    }),
    { nil: undefined },
  ),
  encryptionContext: fc.option(fc.constantFrom<Record<string, string>>({ table: 'orders' }, { table: 'orders-archive' }, { table: 'users' }, {}), { nil: undefined }),
});

describe('policy: properties over random policies and requests', () => {
  it('a Deny of "*" on "*" denies every request, wherever it stands', () => {
    fc.assert(
      fc.property(fc.array(statement, { minLength: 0, maxLength: 6 }), fc.nat(6), request, (statements, at, input) => {
        const withDeny = [...statements];
        withDeny.splice(Math.min(at, statements.length), 0, { Effect: 'Deny', Action: '*', Resource: '*' });
        expect(compilePolicy({ Statement: withDeny }).allows(input)).to.equal(false);
      }),
      { numRuns: 500, seed: 1414 },
    );
  });

  it('is allowed exactly when some Allow alone allows and no Deny, turned into an Allow, would', () => {
    fc.assert(
      fc.property(fc.array(statement, { minLength: 1, maxLength: 6 }), request, (statements, input) => {
        const alone = (one: object) => compilePolicy({ Statement: [{ ...one, Effect: 'Allow' }] }).allows(input);
        const anyAllow = statements.some((one) => one.Effect === 'Allow' && alone(one));
        const anyDeny = statements.some((one) => one.Effect === 'Deny' && alone(one));
        expect(compilePolicy({ Statement: statements }).allows(input)).to.equal(anyAllow && !anyDeny);
      }),
      { numRuns: 500, seed: 1415 },
    );
  });

  it('decides the same after compiling its own document again, and the same for its JSON text', () => {
    fc.assert(
      fc.property(fc.array(statement, { minLength: 1, maxLength: 6 }), request, (statements, input) => {
        const compiled = compilePolicy({ Statement: statements });
        expect(compilePolicy(compiled.document).allows(input)).to.equal(compiled.allows(input));
        expect(compilePolicy(JSON.stringify(compiled.document)).allows(input)).to.equal(compiled.allows(input));
      }),
      { numRuns: 300, seed: 1416 },
    );
  });
});
