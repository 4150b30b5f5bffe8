import { expect } from 'chai';
import fc from 'fast-check';
import { lowerAscii } from '../../src/auth/policy-actions.js';
import { compilePolicy } from '../../src/auth/policy.js';
import { compileWildcard, lastMatchSteps, MAX_PATTERN_LENGTH, wildcardMatches } from '../../src/auth/policy-wildcard.js';
import { ValidationException } from '../../src/errors.js';

function matches(pattern: string, text: string): boolean {
  return wildcardMatches(compileWildcard(pattern), text);
}

/** The matcher's worst case: every pattern position against every text position, once. */
function bound(pattern: string, text: string): number {
  return (compileWildcard(pattern).text.length + 1) * (text.length + 1);
}

/** Textbook dynamic programming over pattern and text positions: slow, obviously right. */
function referenceMatches(pattern: string, text: string): boolean {
  let row = Array.from({ length: text.length + 1 }, (_, index) => index === 0);
  for (const character of pattern) {
    const next = [character === '*' && row[0] === true];
    for (let index = 1; index <= text.length; index++) {
      if (character === '*') next[index] = row[index] === true || next[index - 1] === true;
      else next[index] = row[index - 1] === true && (character === '?' || character === text[index - 1]);
    }
    row = next;
  }
  return row[text.length] === true;
}

describe('policy: wildcard matching', () => {
  const table: [pattern: string, text: string, expected: boolean][] = [
    ['', '', true],
    ['', 'a', false],
    ['*', '', true],
    ['*', 'anything', true],
    ['?', '', false],
    ['?', 'a', true],
    ['?', 'ab', false],
    ['abc', 'abc', true],
    ['abc', 'abcd', false],
    ['a*', 'a', true],
    ['a*c', 'abbbc', true],
    ['a*c', 'abbbcd', false],
    ['a*c*e', 'abcde', true],
    ['a*b*c', 'acb', false],
    ['*a', 'bbba', true],
    ['*a', 'bbab', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['*?', 'x', true],
    ['*??', 'x', false],
    ['a**b', 'ab', true],
    ['***', '', true],
    ['a*a*b', 'aaaab', true],
    ['a*a*b', 'aaaa', false],
    ['?*?', 'ab', true],
    ['?*?', 'a', false],
    ['\\*', '\\anything', true],
    ['.*', 'abc', false],
    ['[a]', 'a', false],
  ];
  for (const [pattern, text, expected] of table) {
    it(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(text)}`, () => {
      expect(matches(pattern, text)).to.equal(expected);
    });
  }

  it('is case-sensitive; lowerAscii (for action names and key ids) folds A-Z and nothing else', () => {
    expect(matches('kms:encrypt', 'KMS:Encrypt')).to.equal(false);
    expect(matches('kms:enc*', lowerAscii('KMS:ENCRYPT'))).to.equal(true);
    expect(lowerAscii('\u212A\u00c9Az')).to.equal('\u212A\u00c9az');
  });

  it('agrees with a reference matcher on random patterns and texts', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[ab*?]{0,8}$/), fc.stringMatching(/^[ab]{0,10}$/), (pattern, text) => {
        expect(matches(pattern, text), `${pattern} ~ ${text}`).to.equal(referenceMatches(pattern, text));
      }),
      { numRuns: 2000, seed: 14 },
    );
  });

  it('counts a surrogate pair as one character for "?"', () => {
    expect(matches('?', '\u{1F600}')).to.equal(true);
    expect(matches('??', '\u{1F600}')).to.equal(false);
    expect(matches('*??', '\u{1F600}')).to.equal(false);
    expect(matches('a?c', 'a\u{1F600}c')).to.equal(true);
    expect(matches('*\u{1F600}', 'xx\u{1F600}')).to.equal(true);
  });

  it('collapses runs of "*" when compiling', () => {
    expect(compileWildcard('a***b**').text).to.equal('a*b*');
    expect(compileWildcard('*'.repeat(10_000)).text).to.equal('*');
    expect(compileWildcard('a?b')).to.deep.equal({ text: 'a?b', hasWildcard: true });
    expect(compileWildcard('ab')).to.deep.equal({ text: 'ab', hasWildcard: false });
  });
});

describe('policy: wildcard abuse stays bounded', () => {
  const cases: [what: string, pattern: string, text: string][] = [
    ['10,000 stars then "a", against 10,000 "b"', `${'*'.repeat(10_000)}a`, 'b'.repeat(10_000)],
    ['"a*a*…*b" (512 stars), against 10,000 "a"', `${'a*'.repeat(512)}b`, 'a'.repeat(10_000)],
    ['"*a*a…a*b", against 5,000 "a"', `*${'a*'.repeat(300)}b`, 'a'.repeat(5_000)],
    ['"*?*?…*?x" (1,000 characters), against 2,000 "?"', `${'*?'.repeat(500)}x`, 'y'.repeat(2_000)],
    ['"*aaaa…b" (1,024 characters), against 10,000 "a"', `*${'a'.repeat(1_022)}b`, 'a'.repeat(10_000)],
  ];
  for (const [what, pattern, text] of cases) {
    it(`${what}: within (pattern + 1) × (text + 1) steps`, () => {
      const started = process.hrtime.bigint();
      expect(matches(pattern, text)).to.equal(false);
      const milliseconds = Number(process.hrtime.bigint() - started) / 1e6;
      expect(lastMatchSteps()).to.be.at.most(bound(pattern, text));
      // Only a catastrophic blowup (exponential backtracking) could take a second here.
      expect(milliseconds).to.be.below(1000);
    });
  }

  it('takes linear steps for a prefix pattern against a long text', () => {
    const text = `orders-${'x'.repeat(100_000)}`;
    expect(matches('orders-*', text)).to.equal(true);
    expect(lastMatchSteps()).to.be.at.most(text.length + 1);
    expect(matches('billing-*', text)).to.equal(false);
    expect(lastMatchSteps()).to.equal(1);
    expect(matches(text, text)).to.equal(true);
    expect(lastMatchSteps()).to.equal(1);
  });

  it('refuses a pattern over 1,024 characters in an action, a resource and a condition value', () => {
    const abuse = `${'*'.repeat(10_000)}a`;
    const documents = [
      { Statement: [{ Effect: 'Allow', Action: `kms:${abuse}`, Resource: '*' }] },
      { Statement: [{ Effect: 'Allow', Action: '*', Resource: `alias/${abuse}` }] },
      { Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringLike: { 'kms:EncryptionContext:a': ['x', abuse] } } }] },
    ];
    const fields = ['Policy.Statement[0].Action: is 10005 characters long', 'Policy.Statement[0].Resource: is 10007 characters long', 'Policy.Statement[0].Condition.StringLike["kms:EncryptionContext:a"][1]: is 10001 characters long'];
    documents.forEach((document, index) => {
      expect(() => compilePolicy(document)).to.throw(ValidationException, fields[index]);
    });
  });

  it(`accepts a ${MAX_PATTERN_LENGTH}-character pattern and decides with it at once`, () => {
    const pattern = `${'a*'.repeat((MAX_PATTERN_LENGTH - 2) / 2)}?b`;
    expect(pattern).to.have.length(MAX_PATTERN_LENGTH);
    const compiled = compilePolicy({ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringLike: { 'kms:EncryptionContext:a': pattern } } }] });
    const started = process.hrtime.bigint();
    const allowed = compiled.allows({ action: { prefix: 'kms', name: 'Encrypt' }, encryptionContext: { a: 'a'.repeat(4096) } });
    expect(allowed).to.equal(false);
    expect(lastMatchSteps()).to.be.at.most(bound(pattern, 'a'.repeat(4096)));
    expect(Number(process.hrtime.bigint() - started) / 1e6).to.be.below(1000);
  });
});
