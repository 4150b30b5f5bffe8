import { expect } from 'chai';
import { type CompiledPolicy, compilePolicy, POLICY_ACTIONS, type PolicyAction, type PolicyResource } from '../../src/auth/policy.js';

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const OTHER_KEY = '99999999-0000-4000-8000-000000000000';

function action(name: string, prefix: PolicyAction['prefix'] = 'kms'): PolicyAction {
  return { prefix, name };
}

function key(keyId: string | undefined, aliases: string[] = [], tags: Record<string, string> = {}): PolicyResource {
  return { keyId, aliases, tags: new Map(Object.entries(tags)) };
}

function allow(Action: unknown, Resource: unknown = '*', Condition?: unknown): object {
  return { Effect: 'Allow', Action, Resource, ...(Condition === undefined ? {} : { Condition }) };
}

function deny(Action: unknown, Resource: unknown = '*', Condition?: unknown): object {
  return { Effect: 'Deny', Action, Resource, ...(Condition === undefined ? {} : { Condition }) };
}

function policy(...statements: object[]): CompiledPolicy {
  return compilePolicy({ Version: '2012-10-17', Statement: statements });
}

/** Whether `compiled` lets kms:Encrypt act on `resource` with `context`. */
function encrypts(compiled: CompiledPolicy, resource: PolicyResource | undefined, context?: Record<string, string>): boolean {
  return compiled.allows({ action: action('Encrypt'), resource, encryptionContext: context });
}

describe('policy: actions', () => {
  it('POLICY_ACTIONS lists the 40 kms actions and keyhold:ListAuditEvents, each once', () => {
    expect(POLICY_ACTIONS).to.have.length(41);
    expect(new Set(POLICY_ACTIONS.map((entry) => `${entry.prefix}:${entry.name}`)).size).to.equal(41);
    expect(POLICY_ACTIONS.filter((entry) => entry.prefix === 'keyhold')).to.deep.equal([{ prefix: 'keyhold', name: 'ListAuditEvents' }]);
    expect(POLICY_ACTIONS.map((entry) => entry.name)).to.include.members(['ReEncryptFrom', 'ReEncryptTo', 'Sign', 'Verify']);
  });

  for (const named of POLICY_ACTIONS) {
    const pattern = `${named.prefix}:${named.name}`;
    it(`${pattern}: an Allow naming it allows it and nothing else; a Deny naming it beats "*"`, () => {
      const allowing = policy(allow(pattern));
      for (const other of POLICY_ACTIONS) {
        expect(allowing.allows({ action: other, resource: key(KEY) }), `${other.prefix}:${other.name}`).to.equal(other === named);
      }
      const denying = policy(allow('*'), deny(pattern));
      for (const other of POLICY_ACTIONS) {
        expect(denying.allows({ action: other, resource: key(KEY) }), `${other.prefix}:${other.name}`).to.equal(other !== named);
      }
      // Requests name actions by value; they need not be the POLICY_ACTIONS objects themselves.
      expect(allowing.allows({ action: { ...named }, resource: undefined })).to.equal(true);
    });
  }

  it('matches action names case-insensitively', () => {
    const compiled = policy(allow(['KMS:encrypt', 'Keyhold:LISTAUDITEVENTS']));
    expect(encrypts(compiled, key(KEY))).to.equal(true);
    expect(compiled.allows({ action: action('ListAuditEvents', 'keyhold') })).to.equal(true);
  });

  it('"*" names every action of both prefixes; "kms:*" not keyhold:ListAuditEvents', () => {
    const everything = policy(allow('*'));
    const kmsOnly = policy(allow('kms:*'));
    for (const named of POLICY_ACTIONS) {
      expect(everything.allows({ action: named })).to.equal(true);
      expect(kmsOnly.allows({ action: named })).to.equal(named.prefix === 'kms');
    }
  });

  it('expands wildcards in action names to exactly the actions they match', () => {
    const allowed = (pattern: string) => POLICY_ACTIONS.filter((named) => policy(allow(pattern)).allows({ action: named })).map((named) => named.name);
    expect(allowed('kms:GenerateDataKey*')).to.deep.equal(['GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext']);
    expect(allowed('kms:?ncrypt')).to.deep.equal(['Encrypt']);
    expect(allowed('kms:ReEncrypt*')).to.deep.equal(['ReEncryptFrom', 'ReEncryptTo']);
    expect(allowed('*:List*')).to.deep.equal(['ListKeys', 'ListKeyRotations', 'ListAliases', 'ListResourceTags', 'ListKeyPolicies', 'ListAuditEvents']);
    expect(allowed('kms:*crypt')).to.deep.equal(['Encrypt', 'Decrypt']);
  });

  it('denies an action that is not in POLICY_ACTIONS, even under "*" (fail closed)', () => {
    const compiled = policy(allow('*'));
    expect(compiled.allows({ action: action('Nonexistent') })).to.equal(false);
    expect(compiled.allows({ action: { prefix: 'aws' as 'kms', name: 'Encrypt' } })).to.equal(false);
  });
});

describe('policy: evaluation', () => {
  it('allows what a matching Allow names', () => {
    expect(encrypts(policy(allow('kms:Encrypt')), key(KEY))).to.equal(true);
  });

  it('denies when no statement matches', () => {
    const compiled = policy(allow('kms:Decrypt'), allow('kms:Encrypt', `key/${OTHER_KEY}`));
    expect(encrypts(compiled, key(KEY))).to.equal(false);
  });

  it('an explicit Deny beats an Allow, whichever comes first', () => {
    expect(encrypts(policy(allow('kms:Encrypt'), deny('kms:Encrypt')), key(KEY))).to.equal(false);
    expect(encrypts(policy(deny('kms:*', `key/${KEY}`), allow('*')), key(KEY))).to.equal(false);
    expect(encrypts(policy(deny('kms:*', `key/${KEY}`), allow('*')), key(OTHER_KEY))).to.equal(true);
  });

  it('a Deny whose condition does not hold leaves the Allow in force', () => {
    const compiled = policy(allow('kms:Encrypt'), deny('kms:*', '*', { StringEquals: { 'aws:ResourceTag/env': 'prod' } }));
    expect(encrypts(compiled, key(KEY, [], { env: 'test' }))).to.equal(true);
    expect(encrypts(compiled, key(KEY, [], { env: 'prod' }))).to.equal(false);
  });

  it('a Deny alone denies everything, as does a policy of Denies', () => {
    expect(encrypts(policy(deny('kms:Decrypt')), key(KEY))).to.equal(false);
  });

  it('accepts one statement object in place of a list (as AWS does)', () => {
    const compiled = compilePolicy({ Statement: allow('kms:Encrypt') });
    expect(encrypts(compiled, key(KEY))).to.equal(true);
  });

  it('compiles the same policy from its JSON text', () => {
    const compiled = compilePolicy(JSON.stringify({ Statement: [allow('kms:Encrypt', 'alias/orders')] }));
    expect(encrypts(compiled, key(KEY, ['alias/orders']))).to.equal(true);
    expect(encrypts(compiled, key(KEY, ['alias/other']))).to.equal(false);
  });
});

describe('policy: resources', () => {
  const cases: [pattern: string, resource: PolicyResource | undefined, expected: boolean][] = [
    ['*', undefined, true],
    ['*', key(KEY), true],
    [`key/${KEY}`, key(KEY), true],
    [`key/${KEY}`, key(OTHER_KEY), false],
    [`key/${KEY.toUpperCase()}`, key(KEY), true],
    [`key/${KEY}`, key(KEY.toUpperCase()), true],
    [`key/${KEY}`, undefined, false],
    [`key/${KEY}`, key(undefined, ['alias/orders']), false],
    ['key/*', key(KEY), true],
    ['key/*', key(undefined), false],
    ['key/*', undefined, false],
    ['key/1234abcd-*', key(KEY), true],
    ['key/1234ABCD-*', key(KEY), true],
    ['key/1234abcd-*', key(OTHER_KEY), false],
    ['key/*-1234567890ab', key(KEY), true],
    ['key/1234abc?-12ab-34cd-56ef-1234567890ab', key(KEY), true],
    ['key/1234abc?-12ab-34cd-56ef-1234567890a', key(KEY), false],
    [`keyhold:key/${KEY}`, key(KEY), true],
    ['keyhold:key/*', key(OTHER_KEY), true],
    ['alias/orders', key(KEY, ['alias/orders']), true],
    ['alias/orders', key(KEY, ['alias/billing', 'alias/orders']), true],
    ['alias/orders', key(KEY, ['alias/billing']), false],
    ['alias/orders', key(KEY, []), false],
    ['alias/orders', key(KEY, ['alias/Orders']), false],
    ['alias/Orders', key(KEY, ['alias/orders']), false],
    ['alias/orders', key(KEY, ['alias/orders-eu']), false],
    ['alias/orders', undefined, false],
    ['alias/orders-*', key(KEY, ['alias/orders-eu']), true],
    ['alias/orders-*', key(KEY, ['alias/orders']), false],
    ['alias/team/*', key(KEY, ['alias/team/a/b']), true],
    ['alias/order?', key(KEY, ['alias/orders']), true],
    ['alias/order?', key(KEY, ['alias/order']), false],
    ['alias/*', key(KEY, ['alias/x']), true],
    ['alias/*', key(KEY, []), false],
    ['keyhold:alias/orders', key(KEY, ['alias/orders']), true],
    ['keyhold:alias/orders', key(KEY, ['alias/other']), false],
  ];
  for (const [pattern, resource, expected] of cases) {
    const shown = resource === undefined ? 'no resource' : `keyId ${resource.keyId ?? 'unknown'}, aliases [${resource.aliases.join(', ')}]`;
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${shown}`, () => {
      expect(encrypts(policy(allow('kms:Encrypt', pattern)), resource)).to.equal(expected);
    });
  }

  it('matches when any of several resources matches', () => {
    const compiled = policy(allow('kms:Encrypt', [`key/${OTHER_KEY}`, 'alias/orders']));
    expect(encrypts(compiled, key(KEY, ['alias/orders']))).to.equal(true);
    expect(encrypts(compiled, key(OTHER_KEY))).to.equal(true);
    expect(encrypts(compiled, key(KEY))).to.equal(false);
  });
});
