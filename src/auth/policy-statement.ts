import { actionKey, lowerAscii, POLICY_ACTIONS, type PolicyAction } from './policy-actions.js';
import { type CompiledCondition, compileConditions } from './policy-condition.js';
import { describeType, fieldName, invalidField, isPlainObject, itemPath, quote, stringOrList } from './policy-field.js';
import { type CompiledResource, compileResource } from './policy-resource.js';
import { compileWildcard, MAX_PATTERN_LENGTH, wildcardMatches } from './policy-wildcard.js';

export interface CompiledStatement {
  readonly effect: 'Allow' | 'Deny';
  /** The entries of POLICY_ACTIONS the statement's Action patterns match, computed once. */
  readonly actions: ReadonlySet<PolicyAction>;
  /** Any one must match. */
  readonly resources: readonly CompiledResource[];
  /** All must hold. */
  readonly conditions: readonly CompiledCondition[];
}

const ACTION_KEYS = POLICY_ACTIONS.map(actionKey);
const FIELDS = new Set(['Sid', 'Effect', 'Action', 'Resource', 'Condition']);
const MAX_SID_LENGTH = 128;

/**
 * Validates one statement and compiles it. `path` is `Policy.Statement[i]`; `sids` collects the
 * Sids seen so far, which must be unique (as in AWS). Returns the statement rebuilt from what
 * was validated, in a fixed field order, for the normalised document.
 */
export function compileStatement(value: unknown, path: string, sids: Set<string>): { statement: CompiledStatement; document: object } {
  if (!isPlainObject(value)) throw invalidField(path, `must be an object, got ${describeType(value)}`);
  const sid = statementSid(value, path, sids);
  const named = sid === undefined ? path : `${path} (Sid ${quote(sid)})`;
  for (const field of Object.keys(value)) {
    if (!FIELDS.has(field)) throw invalidField(`${named}.${fieldName(field)}`, 'is not supported (a statement has Sid, Effect, Action, Resource and Condition)');
  }
  const effect = value.Effect;
  if (effect === undefined) throw invalidField(`${named}.Effect`, 'is required');
  if (effect !== 'Allow' && effect !== 'Deny') throw invalidField(`${named}.Effect`, `must be "Allow" or "Deny" (exact case), got ${typeof effect === 'string' ? quote(effect) : describeType(effect)}`);
  const actionPatterns = required(value, 'Action', named);
  const resourcePatterns = required(value, 'Resource', named);
  const actions = new Set<PolicyAction>();
  actionPatterns.forEach((pattern, index) => {
    for (const action of actionsMatching(pattern, itemPath(`${named}.Action`, value.Action, index))) actions.add(action);
  });
  const resources = resourcePatterns.map((pattern, index) => compileResource(pattern, itemPath(`${named}.Resource`, value.Resource, index)));
  const condition = value.Condition === undefined ? undefined : compileConditions(value.Condition, `${named}.Condition`);
  const statement: CompiledStatement = Object.freeze({ effect, actions, resources: Object.freeze(resources), conditions: Object.freeze(condition?.conditions ?? []) });
  const document = {
    ...(sid === undefined ? {} : { Sid: sid }),
    Effect: effect,
    Action: asWritten(value.Action, actionPatterns),
    Resource: asWritten(value.Resource, resourcePatterns),
    ...(condition === undefined ? {} : { Condition: condition.document }),
  };
  return { statement, document };
}

function statementSid(statement: Record<string, unknown>, path: string, sids: Set<string>): string | undefined {
  const sid = statement.Sid;
  if (sid === undefined) return undefined;
  if (typeof sid !== 'string') throw invalidField(`${path}.Sid`, `must be a string, got ${describeType(sid)}`);
  if (sid.length > MAX_SID_LENGTH) throw invalidField(`${path}.Sid`, `is ${sid.length} characters long, at most ${MAX_SID_LENGTH} are allowed`);
  if (sids.has(sid)) throw invalidField(`${path}.Sid`, `${quote(sid)} is used by an earlier statement; Sids must be unique`);
  sids.add(sid);
  return sid;
}

function required(statement: Record<string, unknown>, field: 'Action' | 'Resource', path: string): readonly string[] {
  if (statement[field] === undefined) throw invalidField(`${path}.${field}`, 'is required');
  return stringOrList(statement[field], `${path}.${field}`);
}

/**
 * The actions one pattern names. `*` alone names every action of both prefixes; otherwise the
 * pattern is `<prefix>:<name>`, matched case-insensitively, and must name at least one action,
 * so that a typo (`kms:Encrpyt`) is an error rather than a grant that never applies.
 */
function actionsMatching(pattern: string, path: string): PolicyAction[] {
  if (pattern.length > MAX_PATTERN_LENGTH) throw invalidField(path, `is ${pattern.length} characters long, at most ${MAX_PATTERN_LENGTH} are allowed`);
  if (pattern === '*') return [...POLICY_ACTIONS];
  if (!pattern.includes(':')) throw invalidField(path, `${quote(pattern)} is not an action: use '<prefix>:<name>' such as 'kms:Encrypt', or '*'`);
  // An action key has one colon, so the pattern's literal colon can only match that one:
  // matching the whole `prefix:name` is the same as matching prefix and name separately.
  const compiled = compileWildcard(lowerAscii(pattern));
  const matching = POLICY_ACTIONS.filter((action, index) => wildcardMatches(compiled, ACTION_KEYS[index] ?? actionKey(action)));
  if (matching.length === 0) throw invalidField(path, `${quote(pattern)} matches no action`);
  return matching;
}

/** A string stays a string, a list a (copied) list: the document shows what was written. */
function asWritten(value: unknown, items: readonly string[]): string | string[] {
  return typeof value === 'string' ? value : [...items];
}
