import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { type CompiledPolicy, compilePolicy, type PolicyRequest } from '../../src/auth/policy.js';

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';

/** The ```json blocks of docs/policies.md, compiled, in order. */
function documentedPolicies(): CompiledPolicy[] {
  const text = readFileSync(new URL('../../docs/policies.md', import.meta.url), 'utf8');
  return [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => compilePolicy(match[1]));
}

function request(name: string, aliases: string[], context?: Record<string, string>, prefix: 'kms' | 'keyhold' = 'kms'): PolicyRequest {
  return { action: { prefix, name }, resource: { keyId: KEY, aliases, tags: new Map() }, encryptionContext: context };
}

describe('policy: the examples of docs/policies.md', () => {
  const [syntax, orders, backup, auditor] = documentedPolicies();

  it('holds four policies, each of which compiles', () => {
    expect(documentedPolicies()).to.have.length(4);
    expect(syntax?.allows(request('Encrypt', ['alias/orders'], { table: 'orders' }))).to.equal(true);
  });

  it('the orders application may encrypt and decrypt under alias/orders, nothing else', () => {
    expect(orders?.allows(request('Encrypt', ['alias/orders']))).to.equal(true);
    expect(orders?.allows(request('Decrypt', ['alias/orders']))).to.equal(true);
    expect(orders?.allows(request('Decrypt', ['alias/billing']))).to.equal(false);
    expect(orders?.allows(request('ScheduleKeyDeletion', ['alias/orders']))).to.equal(false);
  });

  it('the backup job may make data keys only with its context', () => {
    expect(backup?.allows(request('GenerateDataKey', ['alias/backup'], { purpose: 'nightly-backup', host: 'db-1' }))).to.equal(true);
    expect(backup?.allows(request('GenerateDataKey', ['alias/backup'], { purpose: 'nightly-backup', host: 'web-1' }))).to.equal(false);
    expect(backup?.allows(request('GenerateDataKey', ['alias/backup'], { host: 'db-1' }))).to.equal(false);
    expect(backup?.allows(request('Decrypt', ['alias/backup'], { purpose: 'nightly-backup', host: 'db-1' }))).to.equal(false);
  });

  it('the auditor may read the audit trail and nothing else', () => {
    expect(auditor?.allows({ action: { prefix: 'keyhold', name: 'ListAuditEvents' } })).to.equal(true);
    expect(auditor?.allows({ action: { prefix: 'kms', name: 'ListKeys' } })).to.equal(false);
    expect(auditor?.allows(request('DescribeKey', []))).to.equal(false);
  });
});
