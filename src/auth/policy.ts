/**
 * The policy language of docs/design.md "Principals, policies and the audit trail": Allow/Deny
 * statements over action names and key resources, with encryption-context and resource-tag
 * conditions. Pure: no I/O, no clock; a policy is compiled once (when it is written or loaded)
 * and `allows` is then a lookup plus a few string comparisons.
 *
 * @example
 *   const policy = compilePolicy('{"Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "alias/orders"}}');
 *   policy.allows({ action: { prefix: 'kms', name: 'Encrypt' }, resource: { keyId, aliases: ['alias/orders'], tags: new Map() } }); // true
 */
import { lowerAscii, POLICY_ACTIONS, type PolicyAction } from './policy-actions.js';
import { conditionHolds } from './policy-condition.js';
import { describeType, fieldName, invalidField, isPlainObject } from './policy-field.js';
import { checkPolicySize, parsePolicyText } from './policy-json.js';
import { resourceMatches } from './policy-resource.js';
import { type CompiledStatement, compileStatement } from './policy-statement.js';

export { POLICY_ACTIONS, type PolicyAction };
export { MAX_POLICY_BYTES } from './policy-json.js';

/** What the request acts on. `undefined` resource: the action acts on no key and matches only a `*` resource. */
export interface PolicyResource {
  /** The key's id (lower-case UUID), when known: for a missing key named by UUID the UUID; for a missing alias undefined. */
  keyId?: string;
  /** The alias names (`alias/…`) the key currently has. */
  aliases: readonly string[];
  /** The key's tags, TagKey → TagValue. */
  tags: ReadonlyMap<string, string>;
}

export interface PolicyRequest {
  /** e.g. { prefix: 'kms', name: 'Encrypt' } — always one of POLICY_ACTIONS. */
  action: PolicyAction;
  resource?: PolicyResource;
  /** The request's encryption context (for kms:EncryptionContext:<name> conditions). */
  encryptionContext?: Readonly<Record<string, string>>;
}

export interface CompiledPolicy {
  /** true = allowed; false = denied (explicit Deny wins; no matching Allow = denied). */
  allows(request: PolicyRequest): boolean;
  /** The document as written (normalised JSON), for describecredential. */
  readonly document: object;
}

export const MAX_STATEMENTS = 100;

/** The statements that name one action, split by effect. */
interface ActionRules {
  deny: CompiledStatement[];
  allow: CompiledStatement[];
}

/**
 * Validates and compiles a policy document (parsed JSON, or a JSON string). Throws
 * ValidationException naming the statement (index and Sid) and field, e.g.
 * `Policy.Statement[2] (Sid "orders").Action[0]: "kms:Encrpyt" matches no action`.
 */
export function compilePolicy(document: unknown): CompiledPolicy {
  const isText = typeof document === 'string';
  const parsed = isText ? parsePolicyText(document) : document;
  const statementValues = topLevelStatements(parsed);
  if (!isText) checkPolicySize(serialise(parsed));
  const sids = new Set<string>();
  const compiled = statementValues.map((value, index) => compileStatement(value, statementPath(parsed, index), sids));
  const rules = indexByAction(compiled.map((entry) => entry.statement));
  const top = parsed as Record<string, unknown>;
  const statementDocuments = compiled.map((entry) => entry.document);
  const normalised = deepFreeze({
    ...(top.Version === undefined ? {} : { Version: top.Version }),
    Statement: Array.isArray(top.Statement) ? statementDocuments : statementDocuments[0],
  });
  return Object.freeze({ allows: (request: PolicyRequest) => evaluate(rules, request), document: normalised });
}

/** Precondition: a JSON object holding only Version (a string, ignored) and Statement (1..100). */
function topLevelStatements(parsed: unknown): readonly unknown[] {
  if (!isPlainObject(parsed)) throw invalidField('Policy', `must be a JSON object, got ${describeType(parsed)}`);
  for (const field of Object.keys(parsed)) {
    if (field !== 'Version' && field !== 'Statement') throw invalidField(`Policy.${fieldName(field)}`, 'is not supported (a policy has Version and Statement)');
  }
  if (parsed.Version !== undefined && typeof parsed.Version !== 'string') throw invalidField('Policy.Version', `must be a string, got ${describeType(parsed.Version)}`);
  const statement = parsed.Statement;
  if (statement === undefined) throw invalidField('Policy.Statement', 'is required');
  // A single statement object is accepted as AWS accepts it.
  if (isPlainObject(statement)) return [statement];
  if (!Array.isArray(statement)) throw invalidField('Policy.Statement', `must be a list of statements or one statement, got ${describeType(statement)}`);
  if (statement.length === 0) throw invalidField('Policy.Statement', 'must hold at least one statement');
  if (statement.length > MAX_STATEMENTS) throw invalidField('Policy.Statement', `holds ${statement.length} statements, at most ${MAX_STATEMENTS} are allowed`);
  return statement;
}

function statementPath(parsed: unknown, index: number): string {
  return Array.isArray((parsed as Record<string, unknown>).Statement) ? `Policy.Statement[${index}]` : 'Policy.Statement';
}

/** The JSON text of an already parsed document, for its size check. */
function serialise(parsed: unknown): string {
  try {
    return JSON.stringify(parsed) ?? '';
  } catch {
    throw invalidField('Policy', 'is not a JSON value');
  }
}

/** Statements grouped by the action they name, so `allows` reads only the ones that apply. */
function indexByAction(statements: readonly CompiledStatement[]): Map<string, Map<string, ActionRules>> {
  const rules = new Map<string, Map<string, ActionRules>>();
  for (const action of POLICY_ACTIONS) {
    if (!rules.has(action.prefix)) rules.set(action.prefix, new Map());
    const forAction: ActionRules = { deny: [], allow: [] };
    for (const statement of statements) {
      if (statement.actions.has(action)) (statement.effect === 'Deny' ? forAction.deny : forAction.allow).push(statement);
    }
    rules.get(action.prefix)?.set(action.name, forAction);
  }
  return rules;
}

/** Any matching Deny → false; else any matching Allow → true; else false (also for an unknown action). */
function evaluate(rules: Map<string, Map<string, ActionRules>>, request: PolicyRequest): boolean {
  const forAction = rules.get(request.action.prefix)?.get(request.action.name);
  if (forAction === undefined) return false;
  const keyId = request.resource?.keyId;
  const lowerKeyId = keyId === undefined ? undefined : lowerAscii(keyId);
  for (const statement of forAction.deny) {
    if (statementMatches(statement, request, lowerKeyId)) return false;
  }
  for (const statement of forAction.allow) {
    if (statementMatches(statement, request, lowerKeyId)) return true;
  }
  return false;
}

function statementMatches(statement: CompiledStatement, request: PolicyRequest, lowerKeyId: string | undefined): boolean {
  let anyResource = false;
  for (const resource of statement.resources) {
    if (resourceMatches(resource, request.resource, lowerKeyId)) {
      anyResource = true;
      break;
    }
  }
  if (!anyResource) return false;
  for (const condition of statement.conditions) {
    if (!conditionHolds(condition, request)) return false;
  }
  return true;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
