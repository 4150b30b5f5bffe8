import { lowerAscii } from './policy-actions.js';
import { invalidField, quote } from './policy-field.js';
import { compileWildcard, MAX_PATTERN_LENGTH, type WildcardPattern, wildcardMatches } from './policy-wildcard.js';

/** What a resource pattern is matched against (a structural subset of PolicyResource). */
export interface ResourceInput {
  keyId?: string;
  aliases: readonly string[];
}

export type CompiledResource =
  | { readonly kind: 'any' }
  /** `key/<id>`: the id pattern in lower case (key ids are UUIDs, compared case-insensitively). */
  | { readonly kind: 'key'; readonly pattern: WildcardPattern }
  /** `alias/<name>`: the whole `alias/…` pattern, matched case-sensitively (as AWS). */
  | { readonly kind: 'alias'; readonly pattern: WildcardPattern };

const OPTIONAL_PREFIX = 'keyhold:';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KEY_ID_PATTERN = /^[0-9a-f*?-]+$/;
const ALIAS_NAME_PATTERN = /^[A-Za-z0-9/_*?-]+$/;
const MAX_ALIAS_LENGTH = 256;
const SHAPES = "'*', 'key/<uuid>', 'key/*' or 'alias/<name>' (wildcards * and ? in the id or name, optionally prefixed 'keyhold:')";

/**
 * Validates one Resource entry. A pattern that could never match a key id or an alias name
 * (`key/orders`, `alias/a b`) is refused here, not left to deny silently at run time.
 */
export function compileResource(text: string, path: string): CompiledResource {
  if (text.length > MAX_PATTERN_LENGTH) throw invalidField(path, `is ${text.length} characters long, at most ${MAX_PATTERN_LENGTH} are allowed`);
  if (text === '*') return Object.freeze({ kind: 'any' });
  const body = text.startsWith(OPTIONAL_PREFIX) ? text.slice(OPTIONAL_PREFIX.length) : text;
  if (body.startsWith('key/')) return Object.freeze({ kind: 'key', pattern: keyIdPattern(body.slice('key/'.length), text, path) });
  if (body.startsWith('alias/')) return Object.freeze({ kind: 'alias', pattern: aliasPattern(body, text, path) });
  throw invalidField(path, `${quote(text)} is not a resource: use ${SHAPES}`);
}

function keyIdPattern(id: string, text: string, path: string): WildcardPattern {
  const lower = lowerAscii(id);
  const pattern = compileWildcard(lower);
  if (!KEY_ID_PATTERN.test(lower) || (!pattern.hasWildcard && !UUID.test(lower))) {
    throw invalidField(path, `${quote(text)} names no key: a key id is a UUID (wildcards * and ? allowed)`);
  }
  return pattern;
}

function aliasPattern(alias: string, text: string, path: string): WildcardPattern {
  const name = alias.slice('alias/'.length);
  const pattern = compileWildcard(alias);
  if (!ALIAS_NAME_PATTERN.test(name) || (!pattern.hasWildcard && alias.length > MAX_ALIAS_LENGTH)) {
    throw invalidField(path, `${quote(text)} names no alias: an alias name is letters, digits, '/', '_' or '-' (wildcards * and ? allowed)`);
  }
  return pattern;
}

/**
 * Whether a request's resource matches; an absent resource (an action on no key) matches only
 * `*`. `lowerKeyId` is the resource's key id in lower case, made once per decision.
 */
export function resourceMatches(compiled: CompiledResource, resource: ResourceInput | undefined, lowerKeyId: string | undefined): boolean {
  if (compiled.kind === 'any') return true;
  if (resource === undefined) return false;
  if (compiled.kind === 'key') return lowerKeyId !== undefined && wildcardMatches(compiled.pattern, lowerKeyId);
  for (const alias of resource.aliases) {
    if (wildcardMatches(compiled.pattern, alias)) return true;
  }
  return false;
}
