import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { displayName } from '../../src/api/fields.js';
import { awsTargetPath, openApiDocument } from '../../src/api/openapi/document.js';

/**
 * Checks one HTTP exchange (request and answer as sent) against Keyhold's OpenAPI description,
 * as a client generated from it would read them. Used on every exchange of the test run
 * (exchange-recorder.ts) and by the description's own tests.
 */

export interface Exchange {
  method: string;
  url: string;
  /** The request's X-Amz-Target, if any. */
  target?: string;
  status: number;
  /** The answer's Content-Type. */
  contentType?: string;
  requestBody: Buffer;
  answerBody: Buffer;
}

export interface Verdict {
  /** The operation the exchange is (`POST /api/v1/kms/encrypt`), or what it was when it is none. */
  operation: string;
  /** What does not conform; empty when all does. Names fields and rules, never values. */
  problems: string[];
}

type Json = { [key: string]: unknown };

const document = openApiDocument() as Json & { paths: Record<string, Record<string, Json>> };
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
// Annotations of the description that are no JSON Schema keywords.
ajv.addKeyword('components');
ajv.addFormat('date-time', { type: 'string', validate: (text: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(text) && !Number.isNaN(Date.parse(text)) });
ajv.addSchema({ $id: 'keyhold-openapi', components: document.components }, 'keyhold-openapi');
const validators = new Map<string, ValidateFunction>();

function validatorFor(schema: Json): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (validate === undefined) {
    // Refs in the description are local to it (`#/components/schemas/…`).
    const rooted = JSON.parse(key.replaceAll('"#/components/', '"keyhold-openapi#/components/')) as Json;
    validate = ajv.compile(rooted);
    validators.set(key, validate);
  }
  return validate;
}

/** Compiles every schema of the description (so a schema ajv refuses fails a test, not a request). */
export function compileAllSchemas(): number {
  let compiled = 0;
  for (const name of Object.keys((document.components as { schemas: Json }).schemas)) {
    validatorFor({ $ref: `#/components/schemas/${name}` });
    compiled += 1;
  }
  return compiled;
}

const NATIVE_PATH = /^\/api\/v1\/(kms|go-kms)\/([^/?]+)\/?(?:\?|$)/i;
const AWS_TARGET = /^TrentService\.([A-Za-z]{1,64})$/;

/** The description's path and method for a request, if it names an operation of the description. */
export function operationOf(method: string, url: string, target?: string): { path: string; method: string } | undefined {
  const lowerMethod = method.toLowerCase();
  const pathOnly = url.split('?')[0]!;
  if (lowerMethod === 'get' && document.paths[pathOnly]?.get) return { path: pathOnly, method: 'get' };
  if (lowerMethod !== 'post') return undefined;
  const native = NATIVE_PATH.exec(url);
  if (native) {
    const path = `/api/v1/${native[1]!.toLowerCase()}/${safeDecode(native[2]!).toLowerCase()}`;
    return document.paths[path]?.post ? { path, method: 'post' } : undefined;
  }
  if (pathOnly === '/' && target !== undefined) {
    const name = AWS_TARGET.exec(target)?.[1];
    const path = name === undefined ? undefined : awsTargetPath(name);
    return path !== undefined && document.paths[path]?.post ? { path, method: 'post' } : undefined;
  }
  return undefined;
}

/**
 * The verdict on one exchange. An answer must be what the description says for its status
 * (any error: the error answer); a request the server accepted (2xx) must be one the
 * description allows, with its field names as the server reads them (case-insensitive, a
 * `null` field not given). A refused request is not checked: refusing it may be the test.
 */
export function checkExchange(exchange: Exchange): Verdict {
  const found = operationOf(exchange.method, exchange.url, exchange.target);
  const operation = found ? `${found.method.toUpperCase()} ${found.path}` : `${exchange.method} ${exchange.target ?? exchange.url.split('?')[0]}`;
  const problems: string[] = [];
  const answerSchema = found ? answerSchemaOf(found, exchange, problems) : exchange.status >= 400 ? { $ref: '#/components/schemas/ErrorAnswer' } : undefined;
  if (!found && exchange.status < 400) problems.push(`answered ${exchange.status} to a request that names no operation of the description`);
  if (answerSchema !== undefined) problems.push(...validate(answerSchema, exchange.answerBody, 'answer'));
  if (found && exchange.status >= 200 && exchange.status < 300) {
    const requestSchema = requestSchemaOf(found);
    if (requestSchema !== undefined) problems.push(...validate(requestSchema, exchange.requestBody, 'request', (body) => asServerReadsIt(body, exchange.answerBody)));
  }
  return { operation, problems };
}

function answerSchemaOf(found: { path: string; method: string }, exchange: Exchange, problems: string[]): Json | undefined {
  const responses = document.paths[found.path]![found.method]!.responses as Record<string, { content?: Record<string, { schema: Json }> }>;
  const response = responses[String(exchange.status)] ?? responses[`${String(exchange.status).charAt(0)}XX`];
  if (response === undefined) {
    problems.push(`answered status ${exchange.status}, which the description does not list`);
    return undefined;
  }
  const mediaType = (exchange.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const content = response.content?.[mediaType];
  if (content === undefined) {
    problems.push(`answered Content-Type '${mediaType}'; the description says ${Object.keys(response.content ?? {}).join(' or ') || 'no body'}`);
    return undefined;
  }
  // A stream (BackupStore) is described as a string: its lines are checked by the backup tests.
  return content.schema.type === 'string' ? undefined : content.schema;
}

function requestSchemaOf(found: { path: string; method: string }): Json | undefined {
  const body = document.paths[found.path]![found.method]!.requestBody as { content: Record<string, { schema: Json }> } | undefined;
  return body === undefined ? undefined : Object.values(body.content)[0]!.schema;
}

/** What `prepare` returns for a body with nothing left to check. */
const NOTHING_TO_CHECK = Symbol('nothing to check');

function validate(schema: Json, body: Buffer, what: string, prepare: (value: unknown) => unknown = (value) => value): string[] {
  let value: unknown;
  try {
    // An empty request body is `{}` to the server (src/api/request-json.ts), and so described.
    value = what === 'request' && body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    return [`the ${what} is not JSON`];
  }
  const prepared = prepare(value);
  if (prepared === NOTHING_TO_CHECK) return [];
  const check = validatorFor(schema);
  if (check(prepared)) return [];
  return (check.errors ?? []).slice(0, 5).map((error) => `${what}${error.instancePath || ' '} ${error.message ?? 'does not conform'}${error.keyword === 'additionalProperties' ? ` (${String(error.params.additionalProperty)})` : ''}`);
}

/**
 * The request as the server reads it (src/api/fields.ts): top-level names as AWS spells them,
 * `null` fields left out; a batch's items the same way, and only the items the server ran
 * (an item answered with an Error was refused on its own, as the test may have meant).
 */
function asServerReadsIt(body: unknown, answerBody: Buffer): unknown {
  const fields = normalized(body);
  if (!Array.isArray(fields.Items)) return fields;
  const results = (JSON.parse(answerBody.toString('utf8')) as { Results?: { Error?: unknown }[] }).Results ?? [];
  const ran = fields.Items.filter((_item, index) => results[index] !== undefined && results[index]!.Error === undefined).map(normalized);
  return ran.length === 0 ? NOTHING_TO_CHECK : { ...fields, Items: ran };
}

function normalized(body: unknown): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body as Json;
  return Object.fromEntries(
    Object.entries(body)
      .filter(([, value]) => value !== null)
      .map(([name, value]) => [displayName(name.toLowerCase()), value]),
  );
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
