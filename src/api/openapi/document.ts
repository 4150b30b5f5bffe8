import { z } from 'zod';
import { BACKUP_ACTION, BACKUP_CONTENT_TYPE } from '../actions/backup-store.js';
import { actions } from '../actions/index.js';
import type { Action } from '../action.js';
import { errorAnswerShape, healthAnswerShape } from '../answer-shapes.js';
import { AWS_KMS_ACTIONS, BATCH_ITEM_ACTIONS, KEYHOLD_AWS_EXTENSIONS } from '../aws-shapes.js';
import { displayName } from '../fields.js';
import { awsAnswerSchema } from './aws-answers.js';
import { componentRef, jsonSchemaOf, withDisplayNames, type JsonSchema } from './json-schema.js';

/**
 * The version of the API the description describes (the `v1` of its paths), not of the server:
 * an unauthenticated description tells nobody which release, with which known bugs, runs.
 */
export const API_VERSION = '1.0.0';

export const NATIVE_PREFIX = '/api/v1/kms/';
export const GO_KMS_PREFIX = '/api/v1/go-kms/';
export const AWS_CONTENT_TYPE = 'application/x-amz-json-1.1';

/**
 * The path that stands for one AWS target in the description: every AWS request goes to
 * `POST /`, and OpenAPI allows one operation per path and method, so each target gets a path
 * with a fragment (`/#X-Amz-Target=TrentService.Encrypt`), the form of the AWS descriptions
 * converted by APIs.guru. HTTP clients send no fragment: the request still goes to `/`.
 */
export function awsTargetPath(target: string): string {
  return `/#X-Amz-Target=TrentService.${target}`;
}

/** The AWS name of each action the AWS door answers (`encrypt` → `Encrypt`). */
export function awsTargetsByAction(): Map<string, string> {
  const names = [...AWS_KMS_ACTIONS, ...KEYHOLD_AWS_EXTENSIONS];
  return new Map(names.filter((name) => actions.has(name.toLowerCase())).map((name) => [name.toLowerCase(), name]));
}

let cached: string | undefined;

/** The description as JSON text, built once per process (GET /openapi.json). */
export function openApiJson(): string {
  cached ??= `${JSON.stringify(openApiDocument(), null, 2)}\n`;
  return cached;
}

/**
 * The OpenAPI 3.1 description of Keyhold's HTTP API, generated from the schemas that validate
 * the requests (each action's `schema`) and the shapes of the answers (each action's `answer`):
 * every action on the native prefix, on go-kms's prefix and on the AWS door, the error answer,
 * both signing schemes, and the probes.
 */
export function openApiDocument(): JsonSchema {
  const components: Record<string, JsonSchema> = {};
  const errorSchema = jsonSchemaOf(errorAnswerShape, 'output', components);
  const paths: Record<string, JsonSchema> = {};
  const awsTargets = awsTargetsByAction();

  for (const action of actions.values()) {
    const name = action.access.policyAction;
    components[`${name}Request`] = requestSchema(action, components);
    const answer = jsonSchemaOf(action.answer, 'output', components);
    components[`${name}Response`] = answer;
    const operation = { name, request: componentRef(`${name}Request`), answer: componentRef(`${name}Response`), errorSchema };
    paths[`${NATIVE_PREFIX}${action.name}`] = { post: nativeOperation(operation, 'Native API', 'KeyholdSignature', '') };
    paths[`${GO_KMS_PREFIX}${action.name}`] = { post: nativeOperation(operation, 'go-kms prefix', 'GoKmsSignature', 'goKms') };
    const target = awsTargets.get(action.name);
    if (target !== undefined) {
      const awsAnswer = awsAnswerSchema(action.name, answer, components);
      const sameAnswer = JSON.stringify(awsAnswer) === JSON.stringify(answer);
      if (!sameAnswer) components[`Aws${name}Response`] = awsAnswer;
      paths[awsTargetPath(target)] = { post: awsOperation(target, { ...operation, answer: componentRef(sameAnswer ? `${name}Response` : `Aws${name}Response`) }) };
    }
  }
  paths[`${NATIVE_PREFIX}${BACKUP_ACTION}`] = { post: backupOperation(errorSchema) };
  const health = jsonSchemaOf(healthAnswerShape, 'output', components);
  paths['/healthz'] = { get: probeOperation('healthz', 'Alive: the process answers.', health) };
  paths['/readyz'] = { get: probeOperation('readyz', 'Ready to serve: 503 while it is not.', health) };
  paths['/openapi.json'] = {
    get: {
      operationId: 'openApiDescription',
      tags: ['Service'],
      summary: 'This description (unauthenticated)',
      security: [],
      responses: { '200': { description: 'The OpenAPI 3.1 description', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'Keyhold',
      version: API_VERSION,
      summary: 'Self-hosted key management: a signed HTTPS API for keys, envelope encryption, signing and MACs.',
      description: DESCRIPTION,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: 'https://{host}', variables: { host: { default: 'localhost:8443' } } }],
    tags: [
      { name: 'Native API', description: '`POST /api/v1/kms/<action>`, signed with KMS-HMAC-SHA256.' },
      { name: 'go-kms prefix', description: "`POST /api/v1/go-kms/<action>`: the same actions for go-kms's clients, which may also sign with go-kms's legacy key when the server has one (KEYHOLD_GOKMS_AUTH_KEY)." },
      { name: 'AWS KMS door', description: '`POST /` with `X-Amz-Target: TrentService.<Action>`, AWS JSON 1.1 and SigV4: the aws CLI, boto3 and the AWS SDKs with an endpoint override. Every client error is HTTP 400; `__type` tells them apart. AWS KMS actions Keyhold has not are answered UnsupportedOperationException.' },
      { name: 'Service', description: 'Unauthenticated: the probes and this description.' },
    ],
    paths,
    components: {
      schemas: components,
      securitySchemes: SECURITY_SCHEMES,
      parameters: {
        KmsDate: { name: 'X-Kms-Date', in: 'header', required: true, description: 'The signing date, RFC 1123 (`Wed, 28 Jan 2015 10:42:13 GMT`), within 5 minutes of the server clock.', schema: { type: 'string' } },
        KmsContentSha256: { name: 'X-Kms-Content-Sha256', in: 'header', required: true, description: 'Hex SHA-256 of the exact body bytes (covered by the signature).', schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
      },
    },
  };
}

const EMPTY_BODY = 'An empty body is the empty object `{}`.';

const SIGNATURE_PARAMETERS = [{ $ref: '#/components/parameters/KmsDate' }, { $ref: '#/components/parameters/KmsContentSha256' }];

interface OperationParts {
  name: string;
  request: JsonSchema;
  answer: JsonSchema;
  errorSchema: JsonSchema;
}

function nativeOperation({ name, request, answer, errorSchema }: OperationParts, tag: string, scheme: string, idPrefix: string): JsonSchema {
  return {
    operationId: idPrefix === '' ? lowerFirst(name) : `${idPrefix}${name}`,
    tags: [tag],
    summary: name,
    security: [{ [scheme]: [] }],
    // go-kms's legacy signature has headers of its own (its security scheme says which).
    ...(idPrefix === '' ? { parameters: SIGNATURE_PARAMETERS } : {}),
    requestBody: { required: false, description: EMPTY_BODY, content: { 'application/json': { schema: request } } },
    responses: {
      '200': { description: `${name} succeeded`, content: { 'application/json': { schema: answer } } },
      '4XX': { description: 'The request was refused; nothing was done', content: { 'application/json': { schema: errorSchema } } },
      '5XX': { description: 'The server could not answer (503: store or audit trail unavailable)', content: { 'application/json': { schema: errorSchema } } },
    },
  };
}

function awsOperation(target: string, { name, request, answer, errorSchema }: OperationParts): JsonSchema {
  return {
    operationId: `aws${name}`,
    tags: ['AWS KMS door'],
    summary: `TrentService.${target}`,
    security: [{ AwsSigV4: [] }],
    parameters: [{ name: 'X-Amz-Target', in: 'header', required: true, schema: { type: 'string', const: `TrentService.${target}` } }],
    requestBody: { required: false, description: EMPTY_BODY, content: { [AWS_CONTENT_TYPE]: { schema: request } } },
    responses: {
      '200': { description: `${target} succeeded`, content: { [AWS_CONTENT_TYPE]: { schema: answer } } },
      '4XX': { description: 'The request was refused (400, or 413 for a body over the limit)', content: { [AWS_CONTENT_TYPE]: { schema: errorSchema } } },
      '5XX': { description: 'The server could not answer', content: { [AWS_CONTENT_TYPE]: { schema: errorSchema } } },
    },
  };
}

function backupOperation(errorSchema: JsonSchema): JsonSchema {
  return {
    operationId: 'backupStore',
    tags: ['Native API'],
    summary: 'BackupStore (admin credentials only)',
    description: 'Streams a backup of the whole store as NDJSON: a header line, one line per record, a trailer with the count and SHA-256. A stream cut before its trailer is no backup.',
    security: [{ KeyholdSignature: [] }],
    parameters: SIGNATURE_PARAMETERS,
    requestBody: { required: false, description: EMPTY_BODY, content: { 'application/json': { schema: { type: 'object' } } } },
    responses: {
      '200': { description: 'The backup stream', content: { [BACKUP_CONTENT_TYPE]: { schema: { type: 'string' } } } },
      '4XX': { description: 'The request was refused', content: { 'application/json': { schema: errorSchema } } },
      '5XX': { description: 'The server could not answer', content: { 'application/json': { schema: errorSchema } } },
    },
  };
}

function probeOperation(name: string, summary: string, health: JsonSchema): JsonSchema {
  return {
    operationId: name,
    tags: ['Service'],
    summary,
    security: [],
    responses: {
      '200': { description: 'Yes', content: { 'application/json': { schema: health } } },
      '503': { description: 'No', content: { 'application/json': { schema: health } } },
    },
  };
}

/**
 * An action's request schema as clients send it: AWS field names; a batch's items are requests
 * of its single action (checked item by item, so one bad item fails only its slot).
 */
function requestSchema(action: Action, components: Record<string, JsonSchema>): JsonSchema {
  const schema = withDisplayNames(jsonSchemaOf(action.schema, 'input', components), displayName);
  const single = Object.hasOwn(BATCH_ITEM_ACTIONS, action.name) ? actions.get(BATCH_ITEM_ACTIONS[action.name]!) : undefined;
  if (single === undefined) return schema;
  const items = (schema.properties as Record<string, JsonSchema>).Items!;
  return { ...schema, properties: { Items: { ...items, items: componentRef(`${single.access.policyAction}Request`) } } };
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

const DESCRIPTION = [
  'Every action is a `POST` of a JSON object, answered with a JSON object. Field names are AWS KMS\'s, matched without regard to case (`KeyID` is `KeyId`); a field given as `null` is a field not given; fields the action does not know are ignored. Bytes are standard base64.',
  '',
  'Errors are `{"__type": "<Type>", "message": "<text>"}` with the HTTP status of the type (native prefixes) or 400 for every client error (the AWS door).',
  '',
  'Three doors lead to the same actions, permissions and audit trail: the native prefix `/api/v1/kms/`, go-kms\'s prefix `/api/v1/go-kms/`, and the AWS door `POST /`.',
].join('\n');

const SECURITY_SCHEMES: JsonSchema = {
  KeyholdSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description:
      '`Authorization: KMS-HMAC-SHA256 Credential=<access key id>, Signature=<base64>`, the HMAC-SHA256 with the credential\'s secret key of `METHOD "\\n" path-with-query "\\n" X-Kms-Date "\\n" hex SHA-256 of the body`. Send `X-Kms-Date` (RFC 1123) and `X-Kms-Content-Sha256`. The client package (`keyhold/client`) signs for you. A state-changing request is accepted once per signature.',
  },
  GoKmsSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description:
      'The KMS-HMAC-SHA256 signature above, or, when the server has KEYHOLD_GOKMS_AUTH_KEY, go-kms\'s legacy signature: `Authorization: <base64 HMAC-SHA256 of METHOD "\\n" date "\\n" path>` with that key (it covers neither body nor query).',
  },
  AwsSigV4: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description: 'AWS Signature Version 4 (`AWS4-HMAC-SHA256 Credential=<access key id>/<date>/<region>/kms/aws4_request, …`) with a Keyhold access key id and secret, as every AWS SDK signs.',
    'x-amazon-apigateway-authtype': 'awsSigv4',
  },
};
