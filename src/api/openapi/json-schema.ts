import { z } from 'zod';

/** A JSON Schema (2020-12) object as zod writes it. */
export type JsonSchema = { [keyword: string]: unknown };

/** Where the description's shared schemas live, and how a `$ref` names one. */
const COMPONENTS = '#/components/schemas/';

/**
 * A zod schema as JSON Schema for the description: requests as they are sent (`input`: before
 * the transforms that decode base64 and check contexts), answers as they are sent (`output`).
 * Shared shapes with a `meta({ id })` (KeyMetadata, ErrorAnswer…) are moved into `components`
 * and referred to there, once.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output', components: Record<string, JsonSchema>): JsonSchema {
  const converted = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
  const { $schema: _dialect, $defs: definitions, ...rest } = converted;
  for (const [name, definition] of Object.entries((definitions ?? {}) as Record<string, JsonSchema>)) {
    const moved = withComponentRefs(definition) as JsonSchema;
    /* Precondition: one name, one shape: two different shapes may not claim the same id. */
    if (components[name] !== undefined && JSON.stringify(components[name]) !== JSON.stringify(moved)) {
      throw new Error(`Two different schemas are both named ${name}`);
    }
    components[name] = moved;
  }
  return withComponentRefs(rest) as JsonSchema;
}

function withComponentRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withComponentRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [key, key === '$ref' && typeof field === 'string' ? field.replace(/^#\/\$defs\//, COMPONENTS) : withComponentRefs(field)]),
  );
}

/** `{ $ref }` to a shared schema. */
export function componentRef(name: string): JsonSchema {
  return { $ref: `${COMPONENTS}${name}` };
}

/** The name of the shared schema a `$ref` points at, if it points at one. */
export function componentName(schema: JsonSchema): string | undefined {
  const ref = schema.$ref;
  return typeof ref === 'string' && ref.startsWith(COMPONENTS) ? ref.slice(COMPONENTS.length) : undefined;
}

/**
 * A request schema with the field names that clients send: the schemas are written in lower
 * case (the server matches names case-insensitively, src/api/fields.ts); the description
 * shows each name as AWS spells it.
 */
export function withDisplayNames(schema: JsonSchema, displayName: (lowerName: string) => string): JsonSchema {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const renamed = Object.entries(properties).map(([name, field]) => {
    const shown = displayName(name);
    /* Precondition: every field has its AWS spelling, or the description would show it in lower case. */
    if (shown === name) throw new Error(`The request field '${name}' has no display name (src/api/fields.ts DISPLAY_NAMES)`);
    return [shown, field] as const;
  });
  const required = Array.isArray(schema.required) ? (schema.required as string[]).map(displayName) : undefined;
  return { ...schema, properties: Object.fromEntries(renamed), ...(required ? { required } : {}) };
}
