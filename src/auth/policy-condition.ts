import { lowerAscii } from './policy-actions.js';
import { describeType, invalidField, isPlainObject, itemPath, quote, stringOrList } from './policy-field.js';
import { compileWildcard, MAX_PATTERN_LENGTH, type WildcardPattern, wildcardMatches } from './policy-wildcard.js';

/** What a condition reads from the request (a structural subset of PolicyRequest). */
export interface ConditionInput {
  resource?: { tags: ReadonlyMap<string, string> };
  encryptionContext?: Readonly<Record<string, string>>;
}

/** One key under one operator, e.g. StringEquals kms:EncryptionContext:table = [orders]. */
export interface CompiledCondition {
  readonly source: 'encryptionContext' | 'resourceTag';
  /** The context entry's or tag's name, exact case. */
  readonly name: string;
  /** StringNotEquals / StringNotLike: holds when no value matches (also when the entry is missing). */
  readonly negated: boolean;
  /** StringEquals / StringNotEquals compare these exactly. */
  readonly values: readonly string[];
  /** StringLike / StringNotLike match these (`*`, `?`), case-sensitively. */
  readonly patterns: readonly WildcardPattern[];
}

// Operator names are case-sensitive, as in AWS. A Map, so that `__proto__` is no operator.
const OPERATORS: ReadonlyMap<string, { negated: boolean; like: boolean }> = new Map([
  ['StringEquals', { negated: false, like: false }],
  ['StringNotEquals', { negated: true, like: false }],
  ['StringLike', { negated: false, like: true }],
  ['StringNotLike', { negated: true, like: true }],
]);

// The prefixes are matched case-insensitively (ASCII only); the name after them exactly.
const KEY_PREFIXES = [
  { lower: 'kms:encryptioncontext:', source: 'encryptionContext' },
  { lower: 'aws:resourcetag/', source: 'resourceTag' },
] as const;

/**
 * Validates a statement's `Condition` block and compiles it to a flat list whose entries must
 * all hold. Returns the block rebuilt from what was validated, for the normalised document.
 */
export function compileConditions(block: unknown, path: string): { conditions: CompiledCondition[]; document: object } {
  if (!isPlainObject(block)) throw invalidField(path, `must be an object of operators, got ${describeType(block)}`);
  const operatorNames = Object.keys(block);
  if (operatorNames.length === 0) throw invalidField(path, 'names no operator; leave Condition out for none');
  const conditions: CompiledCondition[] = [];
  const document: Record<string, object> = {};
  for (const operatorName of operatorNames) {
    const operator = OPERATORS.get(operatorName);
    if (!operator) throw invalidField(path, `operator ${quote(operatorName)} is not supported (StringEquals, StringNotEquals, StringLike, StringNotLike)`);
    const operatorPath = `${path}.${operatorName}`;
    const keys = block[operatorName];
    if (!isPlainObject(keys)) throw invalidField(operatorPath, `must be an object of condition keys, got ${describeType(keys)}`);
    if (Object.keys(keys).length === 0) throw invalidField(operatorPath, 'names no condition key');
    const keysDocument: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(keys)) {
      const keyPath = `${operatorPath}[${quote(key)}]`;
      const { source, name } = parseConditionKey(key, keyPath);
      const values = stringOrList(value, keyPath);
      values.forEach((item, index) => {
        if (item.length > MAX_PATTERN_LENGTH) {
          throw invalidField(itemPath(keyPath, value, index), `is ${item.length} characters long, at most ${MAX_PATTERN_LENGTH} are allowed`);
        }
      });
      conditions.push(Object.freeze({
        source,
        name,
        negated: operator.negated,
        values: operator.like ? [] : Object.freeze([...values]),
        patterns: operator.like ? Object.freeze(values.map(compileWildcard)) : [],
      }));
      keysDocument[key] = typeof value === 'string' ? value : [...values];
    }
    document[operatorName] = keysDocument;
  }
  return { conditions, document };
}

function parseConditionKey(key: string, path: string): { source: CompiledCondition['source']; name: string } {
  const lower = lowerAscii(key);
  for (const prefix of KEY_PREFIXES) {
    if (!lower.startsWith(prefix.lower)) continue;
    const name = key.slice(prefix.lower.length);
    if (name.length === 0) throw invalidField(path, 'names no context entry or tag after the prefix');
    return { source: prefix.source, name };
  }
  throw invalidField(path, 'is not a supported condition key (kms:EncryptionContext:<name>, aws:ResourceTag/<tag>)');
}

/** Whether one compiled condition holds for a request (AWS semantics for a missing entry). */
export function conditionHolds(condition: CompiledCondition, request: ConditionInput): boolean {
  const actual = conditionValue(condition, request);
  if (actual === undefined) return condition.negated;
  let anyMatches = false;
  for (const value of condition.values) {
    if (value === actual) anyMatches = true;
  }
  for (const pattern of condition.patterns) {
    if (!anyMatches && wildcardMatches(pattern, actual)) anyMatches = true;
  }
  return anyMatches !== condition.negated;
}

function conditionValue(condition: CompiledCondition, request: ConditionInput): string | undefined {
  if (condition.source === 'resourceTag') return request.resource?.tags.get(condition.name);
  const context = request.encryptionContext;
  // Own entries only: a context without "toString" must not see Object.prototype's.
  if (context === undefined || !Object.hasOwn(context, condition.name)) return undefined;
  const value = context[condition.name];
  return typeof value === 'string' ? value : undefined;
}
