import { expect } from 'chai';
import { redactedUrl } from '../../src/store/postgres/postgres-store.js';

describe('redactedUrl: the database URL as messages show it', () => {
  it('hides the password of the user part', () => {
    const shown = redactedUrl('postgres://keyhold:s3cr3t-pw@db.internal:5432/keyhold');
    expect(shown).to.not.contain('s3cr3t-pw');
    expect(shown).to.equal('postgres://keyhold:***@db.internal:5432/keyhold');
  });

  it('hides password and sslpassword given as query parameters, and keeps the others', () => {
    const shown = redactedUrl('postgres://keyhold@db.internal/keyhold?sslmode=verify-full&password=q-pass&sslpassword=key-pass');
    expect(shown).to.not.contain('q-pass');
    expect(shown).to.not.contain('key-pass');
    const query = new URL(shown).searchParams;
    expect(query.get('sslmode')).to.equal('verify-full');
    expect(query.get('password')).to.equal('***');
    expect(query.get('sslpassword')).to.equal('***');
  });

  it('leaves a URL without secrets as it was', () => {
    expect(redactedUrl('postgres://keyhold@127.0.0.1:5432/keyhold?sslmode=require')).to.equal('postgres://keyhold@127.0.0.1:5432/keyhold?sslmode=require');
  });

  it('shows no part of a URL it cannot parse', () => {
    expect(redactedUrl('postgres://keyhold:pw@[bad')).to.equal('the database URL in KEYHOLD_STORE_URL');
  });
});
