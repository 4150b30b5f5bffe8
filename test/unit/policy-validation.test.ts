import { expect } from 'chai';
import { compilePolicy } from '../../src/auth/policy.js';
import { ValidationException } from '../../src/errors.js';

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const VALID = { Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' };

/** The message of the ValidationException that compiling `document` throws. */
function refusal(document: unknown): string {
  try {
    compilePolicy(document);
  } catch (error) {
    expect(error).to.be.instanceOf(ValidationException);
    expect((error as InstanceType<typeof ValidationException>).status).to.equal(400);
    return (error as Error).message;
  }
  throw new Error('compilePolicy accepted the document');
}

function withStatement(fields: Record<string, unknown>): object {
  return { Statement: [{ ...VALID, ...fields }] };
}

function withCondition(Condition: unknown): object {
  return withStatement({ Condition });
}

describe('policy: malformed documents', () => {
  // [what, document, the start of the message (the field path and problem)]
  const table: [string, unknown, string][] = [
    ['text that is not JSON', '{"Statement": [', 'Policy: is not valid JSON'],
    ['an empty text', '', 'Policy: is not valid JSON'],
    ['a number', 42, 'Policy: must be a JSON object, got a number'],
    ['null', null, 'Policy: must be a JSON object, got null'],
    ['a list', [VALID], 'Policy: must be a JSON object, got a list'],
    ['JSON text of a string', '"policy"', 'Policy: must be a JSON object, got a string'],
    ['a class instance', new Date(0), 'Policy: must be a JSON object, got an object'],
    ['no Statement', { Version: '2012-10-17' }, 'Policy.Statement: is required'],
    ['an empty Statement list', { Statement: [] }, 'Policy.Statement: must hold at least one statement'],
    ['a Statement string', { Statement: 'allow all' }, 'Policy.Statement: must be a list of statements or one statement, got a string'],
    ['a statement that is a number', { Statement: [VALID, 7] }, 'Policy.Statement[1]: must be an object, got a number'],
    ['a hole in the Statement list', { Statement: [VALID, undefined] }, 'Policy.Statement[1]: must be an object, got nothing'],
    ['an empty statement', { Statement: [{}] }, 'Policy.Statement[0].Effect: is required'],
    ['a Version that is a number', { Version: 2012, Statement: [VALID] }, 'Policy.Version: must be a string, got a number'],
    ['an Id field', { Id: 'x', Statement: [VALID] }, 'Policy.Id: is not supported'],
    ['a lower-case statement field', { statement: [VALID] }, 'Policy.statement: is not supported'],
    ['NotAction', withStatement({ NotAction: 'kms:Decrypt' }), 'Policy.Statement[0].NotAction: is not supported'],
    ['NotResource', withStatement({ NotResource: '*' }), 'Policy.Statement[0].NotResource: is not supported'],
    ['Principal', withStatement({ Principal: '*' }), 'Policy.Statement[0].Principal: is not supported'],
    ['NotPrincipal', withStatement({ NotPrincipal: '*' }), 'Policy.Statement[0].NotPrincipal: is not supported'],
    ['a lower-case field', withStatement({ effect: 'Allow' }), 'Policy.Statement[0].effect: is not supported'],
    ['a Sid that is a number', withStatement({ Sid: 1 }), 'Policy.Statement[0].Sid: must be a string, got a number'],
    ['a Sid of 129 characters', withStatement({ Sid: 's'.repeat(129) }), 'Policy.Statement[0].Sid: is 129 characters long, at most 128'],
    ['two statements with one Sid', { Statement: [{ ...VALID, Sid: 'a' }, { ...VALID, Sid: 'a' }] }, 'Policy.Statement[1].Sid: "a" is used by an earlier statement'],
    ['no Effect', { Statement: [{ Action: '*', Resource: '*' }] }, 'Policy.Statement[0].Effect: is required'],
    ['Effect "allow"', withStatement({ Effect: 'allow' }), 'Policy.Statement[0].Effect: must be "Allow" or "Deny" (exact case), got "allow"'],
    ['Effect true', withStatement({ Effect: true }), 'Policy.Statement[0].Effect: must be "Allow" or "Deny" (exact case), got a boolean'],
    ['no Action', { Statement: [{ Effect: 'Allow', Resource: '*' }] }, 'Policy.Statement[0].Action: is required'],
    ['an empty Action list', withStatement({ Action: [] }), 'Policy.Statement[0].Action: must not be an empty list'],
    ['an Action number', withStatement({ Action: 5 }), 'Policy.Statement[0].Action: must be a string or a list of strings, got a number'],
    ['an Action list holding a number', withStatement({ Action: ['kms:Encrypt', 5] }), 'Policy.Statement[0].Action[1]: must be a string, got a number'],
    ['an unknown action', withStatement({ Action: 'kms:Encrpyt' }), 'Policy.Statement[0].Action: "kms:Encrpyt" matches no action'],
    ['an unknown action in a list', withStatement({ Action: ['kms:Encrypt', 'kms:Encrpyt'] }), 'Policy.Statement[0].Action[1]: "kms:Encrpyt" matches no action'],
    ['an action without prefix', withStatement({ Action: 'Encrypt' }), `Policy.Statement[0].Action: "Encrypt" is not an action: use '<prefix>:<name>'`],
    ['an empty action', withStatement({ Action: '' }), 'Policy.Statement[0].Action: "" is not an action'],
    ['ListAuditEvents under kms:', withStatement({ Action: 'kms:ListAuditEvents' }), 'Policy.Statement[0].Action: "kms:ListAuditEvents" matches no action'],
    ['Encrypt under keyhold:', withStatement({ Action: 'keyhold:Encrypt' }), 'Policy.Statement[0].Action: "keyhold:Encrypt" matches no action'],
    ['another prefix', withStatement({ Action: 'iam:*' }), 'Policy.Statement[0].Action: "iam:*" matches no action'],
    ['a Kelvin sign for K', withStatement({ Action: 'kms:List\u212Aeys' }), 'Policy.Statement[0].Action: "kms:List\u212Aeys" matches no action'],
    ['an action with a second colon', withStatement({ Action: 'kms:*:*' }), 'Policy.Statement[0].Action: "kms:*:*" matches no action'],
    ['no Resource', { Statement: [{ Effect: 'Allow', Action: '*' }] }, 'Policy.Statement[0].Resource: is required'],
    ['an empty Resource list', withStatement({ Resource: [] }), 'Policy.Statement[0].Resource: must not be an empty list'],
    ['a Resource object', withStatement({ Resource: { key: KEY } }), 'Policy.Statement[0].Resource: must be a string or a list of strings, got an object'],
    ['a bare key id', withStatement({ Resource: KEY }), `Policy.Statement[0].Resource: "${KEY}" is not a resource`],
    ['a key id that is no UUID', withStatement({ Resource: 'key/orders' }), 'Policy.Statement[0].Resource: "key/orders" names no key'],
    ['a key id one digit short', withStatement({ Resource: `key/${KEY.slice(1)}` }), 'Policy.Statement[0].Resource: "key/'],
    ['an empty key id', withStatement({ Resource: 'key/' }), 'Policy.Statement[0].Resource: "key/" names no key'],
    ['a key id pattern with other letters', withStatement({ Resource: ['*', 'key/xyz*'] }), 'Policy.Statement[0].Resource[1]: "key/xyz*" names no key'],
    ['an empty alias name', withStatement({ Resource: 'alias/' }), 'Policy.Statement[0].Resource: "alias/" names no alias'],
    ['an alias name with a space', withStatement({ Resource: 'alias/a b' }), 'Policy.Statement[0].Resource: "alias/a b" names no alias'],
    ['an alias longer than 256', withStatement({ Resource: `alias/${'a'.repeat(251)}` }), 'Policy.Statement[0].Resource: "alias/aaa'],
    ['an ARN', withStatement({ Resource: `arn:aws:kms:us-east-1:111122223333:key/${KEY}` }), 'Policy.Statement[0].Resource: "arn:aws:kms:'],
    ['Key/ in capitals', withStatement({ Resource: `Key/${KEY}` }), `Policy.Statement[0].Resource: "Key/${KEY}" is not a resource`],
    ['keyhold:*', withStatement({ Resource: 'keyhold:*' }), 'Policy.Statement[0].Resource: "keyhold:*" is not a resource'],
    ['a wildcard before key/', withStatement({ Resource: '*/orders' }), 'Policy.Statement[0].Resource: "*/orders" is not a resource'],
    ['a Condition string', withCondition('x'), 'Policy.Statement[0].Condition: must be an object of operators, got a string'],
    ['an empty Condition', withCondition({}), 'Policy.Statement[0].Condition: names no operator'],
    ['an unknown operator', withCondition({ StringEqualsIgnoreCase: { 'kms:EncryptionContext:a': 'b' } }), 'Policy.Statement[0].Condition: operator "StringEqualsIgnoreCase" is not supported'],
    ['a lower-case operator', withCondition({ stringequals: { 'kms:EncryptionContext:a': 'b' } }), 'Policy.Statement[0].Condition: operator "stringequals" is not supported'],
    ['a set operator', withCondition({ 'ForAnyValue:StringEquals': { 'kms:EncryptionContext:a': 'b' } }), 'Policy.Statement[0].Condition: operator "ForAnyValue:StringEquals" is not supported'],
    ['an IfExists operator', withCondition({ StringEqualsIfExists: { 'kms:EncryptionContext:a': 'b' } }), 'Policy.Statement[0].Condition: operator "StringEqualsIfExists" is not supported'],
    ['an operator named __proto__', '{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"__proto__":{}}}}', 'Policy.Statement.Condition: operator "__proto__" is not supported'],
    ['an operator holding a list', withCondition({ StringEquals: ['a'] }), 'Policy.Statement[0].Condition.StringEquals: must be an object of condition keys, got a list'],
    ['an operator with no key', withCondition({ StringEquals: {} }), 'Policy.Statement[0].Condition.StringEquals: names no condition key'],
    ['an unknown condition key', withCondition({ StringEquals: { 'aws:PrincipalTag/team': 'a' } }), 'Policy.Statement[0].Condition.StringEquals["aws:PrincipalTag/team"]: is not a supported condition key'],
    ['a context key without a name', withCondition({ StringEquals: { 'kms:EncryptionContext:': 'a' } }), 'Policy.Statement[0].Condition.StringEquals["kms:EncryptionContext:"]: names no context entry'],
    ['a tag key without a name', withCondition({ StringLike: { 'aws:ResourceTag/': 'a' } }), 'Policy.Statement[0].Condition.StringLike["aws:ResourceTag/"]: names no context entry or tag'],
    ['a condition value that is a number', withCondition({ StringEquals: { 'kms:EncryptionContext:a': 5 } }), 'Policy.Statement[0].Condition.StringEquals["kms:EncryptionContext:a"]: must be a string or a list of strings, got a number'],
    ['an empty list of condition values', withCondition({ StringEquals: { 'kms:EncryptionContext:a': [] } }), 'Policy.Statement[0].Condition.StringEquals["kms:EncryptionContext:a"]: must not be an empty list'],
    ['a condition value list holding null', withCondition({ StringNotLike: { 'aws:ResourceTag/env': ['a', null] } }), 'Policy.Statement[0].Condition.StringNotLike["aws:ResourceTag/env"][1]: must be a string, got null'],
    ['a Kelvin sign in a condition key prefix', withCondition({ StringEquals: { '\u212Ams:EncryptionContext:a': 'b' } }), 'Policy.Statement[0].Condition.StringEquals["\u212Ams:EncryptionContext:a"]: is not a supported condition key'],
  ];
  for (const [what, document, message] of table) {
    it(`refuses ${what}: ${message}`, () => {
      expect(refusal(document)).to.satisfy((text: string) => text.startsWith(message), refusal(document));
    });
  }

  it('names the statement by index and Sid', () => {
    const document = { Statement: [VALID, VALID, { ...VALID, Sid: 'orders', Action: ['kms:Encrypt', 'kms:Encrpyt'] }] };
    expect(refusal(document)).to.equal('Policy.Statement[2] (Sid "orders").Action[1]: "kms:Encrpyt" matches no action');
  });

  it('refuses a key written twice in one object of the JSON text, also spelt with an escape', () => {
    expect(refusal('{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "Effect": "Allow"}}')).to.equal('Policy: the key "Effect" appears twice in one object');
    expect(refusal('{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "\\u0045ffect": "Allow"}}')).to.equal('Policy: the key "Effect" appears twice in one object');
    const context = '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:a": "x", "kms:EncryptionContext:a": "y"}}}}';
    expect(refusal(context)).to.equal('Policy: the key "kms:EncryptionContext:a" appears twice in one object');
  });

  it('accepts the same key in different objects, and keys inside strings and lists', () => {
    const text = JSON.stringify({ Statement: [{ ...VALID, Sid: 'a, "Sid": "b"' }, { ...VALID, Sid: '{' }, { ...VALID, Sid: 'x\\"}' }] });
    expect(compilePolicy(text).document).to.deep.equal(JSON.parse(text));
  });

  it('never repeats more than 64 characters of the input', () => {
    const long = `kms:${'x'.repeat(900)}`;
    const message = refusal(withStatement({ Action: long, Sid: 's'.repeat(128) }));
    expect(message).to.not.include('x'.repeat(65));
    expect(message).to.not.include('s'.repeat(65));
    expect(message.length).to.be.below(250);
    expect(refusal({ [`${'f'.repeat(100)}`]: 1, Statement: [VALID] })).to.not.include('f'.repeat(65));
  });

  it('escapes control characters it repeats, in values and in field names', () => {
    expect(refusal(withStatement({ Action: 'kms:\n\u0000' }))).to.include('"kms:\\n\\u0000"');
    expect(refusal(withStatement({ 'x\ny': 1 }))).to.equal('Policy.Statement[0]."x\\ny": is not supported (a statement has Sid, Effect, Action, Resource and Condition)');
    expect(refusal({ Statement: [VALID], '\r': 1 })).to.equal('Policy."\\r": is not supported (a policy has Version and Statement)');
  });
});

describe('policy: size limits', () => {
  const statement = JSON.stringify(VALID);

  it('refuses 101 statements, accepts 100', () => {
    expect(refusal({ Statement: Array.from({ length: 101 }, () => VALID) })).to.equal('Policy.Statement: holds 101 statements, at most 100 are allowed');
    expect(refusal(`{"Statement":[${Array.from({ length: 101 }, () => statement).join(',')}]}`)).to.equal('Policy.Statement: holds 101 statements, at most 100 are allowed');
    compilePolicy({ Statement: Array.from({ length: 100 }, () => VALID) });
  });

  it('refuses 10,000 statements, as an object by their count and as text by its size', () => {
    expect(refusal({ Statement: Array.from({ length: 10_000 }, () => VALID) })).to.equal('Policy.Statement: holds 10000 statements, at most 100 are allowed');
    expect(refusal(`{"Statement":[${Array.from({ length: 10_000 }, () => statement).join(',')}]}`)).to.match(/^Policy: is \d+ bytes or more of JSON, at most 16384 \(16 KiB\)/);
  });

  it('refuses a document over 16 KiB, as text and as an object, and accepts one of exactly 16 KiB', () => {
    const resources = (count: number) => Array.from({ length: count }, () => `key/${KEY}`);
    const big = { Statement: [{ ...VALID, Resource: resources(400) }] };
    expect(JSON.stringify(big).length).to.be.above(16384);
    expect(refusal(big)).to.match(/^Policy: is \d+ bytes or more of JSON, at most 16384/);
    expect(refusal(JSON.stringify(big))).to.match(/^Policy: is \d+ bytes or more of JSON, at most 16384/);
    const base = JSON.stringify({ Statement: [{ ...VALID, Resource: resources(300) }] });
    const exact = base.padEnd(16384, ' ');
    expect(compilePolicy(exact).document).to.be.an('object');
    expect(refusal(`${exact} `)).to.equal('Policy: is 16385 bytes or more of JSON, at most 16384 (16 KiB) are allowed');
  });

  it('counts the size in UTF-8 bytes, not characters', () => {
    const document = (euros: number) => ({ Version: '€'.repeat(euros), Statement: [VALID] });
    const text = JSON.stringify(document(5500));
    expect(text.length).to.be.below(16384);
    expect(Buffer.byteLength(text)).to.equal(text.length + 2 * 5500);
    expect(refusal(text)).to.equal(`Policy: is ${Buffer.byteLength(text)} bytes or more of JSON, at most 16384 (16 KiB) are allowed`);
    expect(refusal(document(5500))).to.equal(`Policy: is ${Buffer.byteLength(text)} bytes or more of JSON, at most 16384 (16 KiB) are allowed`);
    compilePolicy(JSON.stringify(document(5000)));
    compilePolicy(document(5000));
  });

  it('refuses an object that has no JSON form', () => {
    const cyclic: Record<string, unknown> = { ...VALID };
    cyclic.Condition = { StringEquals: { 'kms:EncryptionContext:a': cyclic } };
    expect(refusal({ Version: 1n, Statement: [VALID] })).to.equal('Policy.Version: must be a string, got a bigint');
    expect(refusal({ Statement: [cyclic] })).to.equal('Policy: is not a JSON value');
  });
});
