import { isTimestamp } from '../aws-shapes.js';
import { componentName, componentRef, type JsonSchema } from './json-schema.js';

/**
 * The AWS door's answer schema of an action, from its native one, changed as awsResult
 * (src/api/aws-shapes.ts) changes the answers themselves: timestamps as epoch seconds,
 * KeyMetadata with AWSAccountId, ListKeys's keys as KeyId and KeyArn. ARNs and key ids stay
 * strings. A shared schema that changes gets an `Aws` twin in `components`.
 */
export function awsAnswerSchema(actionName: string, native: JsonSchema, components: Record<string, JsonSchema>): JsonSchema {
  const shaped = awsSchema(native, components);
  if (actionName !== 'listkeys') return shaped;
  const properties = { ...(shaped.properties as Record<string, JsonSchema>) };
  delete properties.KeyMetadata;
  properties.Keys = {
    type: 'array',
    items: { type: 'object', properties: { KeyId: { type: 'string' }, KeyArn: { type: 'string' } }, required: ['KeyId', 'KeyArn'], additionalProperties: false },
  };
  return { ...shaped, properties };
}

const EPOCH_SECONDS: JsonSchema = { type: 'number', description: 'Epoch seconds, with milliseconds as a fraction' };

function awsSchema(schema: JsonSchema, components: Record<string, JsonSchema>): JsonSchema {
  const shared = componentName(schema);
  if (shared !== undefined) return awsComponent(shared, components);
  const shaped: JsonSchema = { ...schema };
  if (isObject(schema.properties)) {
    shaped.properties = Object.fromEntries(
      Object.entries(schema.properties as Record<string, JsonSchema>).map(([name, field]) => [
        name,
        isTimestamp(name) && field.type === 'string' ? { ...EPOCH_SECONDS } : awsSchema(field, components),
      ]),
    );
  }
  if (isObject(schema.items)) shaped.items = awsSchema(schema.items as JsonSchema, components);
  for (const keyword of ['anyOf', 'oneOf', 'allOf']) {
    if (Array.isArray(schema[keyword])) shaped[keyword] = (schema[keyword] as JsonSchema[]).map((part) => awsSchema(part, components));
  }
  return shaped;
}

/** A shared schema for the AWS door: the native one if nothing in it changes, else its `Aws` twin. */
function awsComponent(name: string, components: Record<string, JsonSchema>): JsonSchema {
  const twin = `Aws${name}`;
  if (components[twin] !== undefined) return componentRef(twin);
  const native = components[name]!;
  let shaped = awsSchema(native, components);
  if (name === 'KeyMetadata') {
    shaped = {
      ...shaped,
      properties: { AWSAccountId: { type: 'string' }, ...(shaped.properties as Record<string, JsonSchema>) },
      required: ['AWSAccountId', ...((shaped.required as string[] | undefined) ?? [])],
    };
  }
  if (JSON.stringify(shaped) === JSON.stringify(native)) return componentRef(name);
  components[twin] = shaped;
  return componentRef(twin);
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
