import type { z } from 'zod';

/**
 * A request's schema problems as one message in people's words: each names the field in its
 * AWS spelling and the rule with its limit in the field's units ("Limit is at most 1000",
 * "KeyId is required"), never the schema library's wording ("Too big: expected string to have
 * <=5464 characters") and never the value, which may be plaintext.
 *
 * @example
 *   validationMessage(result.error.issues, fields, displayName) // 'Plaintext is at most 4096 bytes; …'
 */
export function validationMessage(
  issues: readonly z.core.$ZodIssue[],
  fields: Record<string, unknown>,
  displayName: (lowerName: string) => string,
): string {
  // One problem per field: a value of the wrong type also fails the checks that follow it
  // (an empty list "has at least 1 item" for a string's minimum length).
  const byField = new Map<string, z.core.$ZodIssue>();
  for (const issue of issues) {
    const key = issue.path.map(String).join('\u0000');
    if (!byField.has(key)) byField.set(key, issue);
  }
  const count = byField.size;
  const problems = [...byField.values()].slice(0, 3).map((issue) => describeIssue(issue, fields, displayName));
  if (count === 1) return problems[0]!;
  const more = count > problems.length ? ` (and ${count - problems.length} more)` : '';
  return `${count} problems with the request: ${problems.join('; ')}${more}`;
}

function describeIssue(issue: z.core.$ZodIssue, fields: Record<string, unknown>, displayName: (lowerName: string) => string): string {
  return `${fieldName(issue.path, displayName)} ${rule(issue, fields)}`;
}

/**
 * What one issue says of its field, as the end of a sentence that starts with the field's
 * name: `is required`, `is at most 4096 bytes`, `must be one of json, pretty`.
 *
 * @example
 *   `${variable}: ${rule(issue, environment)}` // 'KEYHOLD_WORKERS: is at most 256'
 */
export function rule(issue: z.core.$ZodIssue, fields: Record<string, unknown>): string {
  // An absent field fails a type check, every branch of a union, or a list of choices alike.
  if (issue.path.length > 0 && valueAt(fields, issue.path) === undefined) return 'is required';
  return kindRule(issue);
}

function kindRule(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${TYPE_WORDS[issue.expected] ?? `of type ${issue.expected}`}`;
    // A limit written with its own message says it in the field's units (bytes of a base64 field).
    case 'too_big':
      return isLibraryWording(issue.message) ? tooBig(issue.origin, Number(issue.maximum), issue.inclusive !== false) : issue.message;
    case 'too_small':
      return isLibraryWording(issue.message) ? tooSmall(issue.origin, Number(issue.minimum), issue.inclusive !== false) : issue.message;
    case 'invalid_value':
      return `must be one of ${oneOf(issue.values)}`;
    case 'invalid_format':
      // A pattern written with its own message (`'must be 64 hex digits'`) says it best.
      return isLibraryWording(issue.message) ? 'has a form that is not allowed' : issue.message;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'unrecognized_keys':
      return `has fields that are not known: ${issue.keys.slice(0, 5).join(', ')}`;
    case 'invalid_union':
      return unionRule(issue.errors);
    case 'invalid_key':
      return 'has a name that is not allowed';
    case 'invalid_element':
      return 'has a value that is not allowed';
    case 'custom':
      // Our own refinements' messages, written as the end of a sentence about the field.
      return isLibraryWording(issue.message) ? 'has a value that is not allowed' : issue.message;
  }
}

/** zod's default messages begin so; ours are the end of a sentence ("must be …"). */
function isLibraryWording(message: string): boolean {
  return /^(Invalid|Too (big|small)|Expected|Unrecognized)\b/.test(message);
}

/**
 * A value that fits no branch of a union: when it has the wrong type for all of them, the types
 * it may have ("must be a number or a string"); when one branch took its type but not its value,
 * that branch's rule.
 */
function unionRule(branches: readonly (readonly z.core.$ZodIssue[])[]): string {
  const typeOnly = (branch: readonly z.core.$ZodIssue[]) => branch.every((issue) => issue.code === 'invalid_type' && issue.path.length === 0);
  const near = branches.find((branch) => !typeOnly(branch) && branch.length > 0);
  if (near) return kindRule(near[0]!);
  const types = branches.flatMap((branch) => branch.map((issue) => (issue.code === 'invalid_type' ? (TYPE_WORDS[issue.expected] ?? issue.expected) : '')));
  return types.length > 0 && types.every(Boolean) ? `must be ${[...new Set(types)].join(' or ')}` : 'has a form that is not allowed';
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list (a JSON array)',
  object: 'an object (a JSON object)',
  record: 'an object (a JSON object)',
};

function tooBig(origin: string, maximum: number, inclusive: boolean): string {
  const limit = inclusive ? maximum : maximum - 1;
  switch (origin) {
    case 'string':
      return `is at most ${limit} characters`;
    case 'array':
    case 'set':
      return `has at most ${limit} item${limit === 1 ? '' : 's'}`;
    default:
      return inclusive ? `is at most ${maximum}` : `is less than ${maximum}`;
  }
}

function tooSmall(origin: string, minimum: number, inclusive: boolean): string {
  const limit = inclusive ? minimum : minimum + 1;
  switch (origin) {
    case 'string':
      return limit === 1 ? 'must not be empty' : `is at least ${limit} characters`;
    case 'array':
    case 'set':
      return `has at least ${limit} item${limit === 1 ? '' : 's'}`;
    default:
      return inclusive ? `is at least ${minimum}` : `is more than ${minimum}`;
  }
}

function oneOf(values: readonly unknown[]): string {
  const shown = values.slice(0, 8).map(String).join(', ');
  return values.length > 8 ? `${shown}, … (${values.length} in all)` : shown;
}

/** `Tags[0].TagKey`: the top-level name in its AWS spelling, list positions in brackets. */
function fieldName(path: readonly PropertyKey[], displayName: (lowerName: string) => string): string {
  if (path.length === 0) return 'The request';
  const [first, ...rest] = path;
  return rest.reduce<string>(
    (name, part) => (typeof part === 'number' ? `${name}[${part}]` : `${name}.${String(part)}`),
    displayName(String(first)),
  );
}

function valueAt(fields: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
  let value: unknown = fields;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}
