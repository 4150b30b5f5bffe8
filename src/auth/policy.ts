// Placeholder until the policy language lands (replaced whole): allows exact action names on `*` only.
import { ValidationException } from '../errors.js';

export interface PolicyAction { prefix: 'kms' | 'keyhold'; name: string }
export const POLICY_ACTIONS: readonly PolicyAction[] = [];
export interface PolicyResource { keyId?: string; aliases: readonly string[]; tags: ReadonlyMap<string, string> }
export interface PolicyRequest { action: PolicyAction; resource?: PolicyResource; encryptionContext?: Readonly<Record<string, string>> }
export interface CompiledPolicy { allows(request: PolicyRequest): boolean; readonly document: object }

export function compilePolicy(document: unknown): CompiledPolicy {
  const parsed = (typeof document === 'string' ? JSON.parse(document) : document) as { Statement?: { Effect: string; Action: string | string[]; Resource: string | string[] }[] };
  if (!parsed || !Array.isArray(parsed.Statement)) throw new ValidationException('Policy.Statement must be a list');
  const statements = parsed.Statement.map((s) => ({ effect: s.Effect, actions: [s.Action].flat().map((a) => a.toLowerCase()), resources: [s.Resource].flat() }));
  return {
    document: parsed,
    allows(request) {
      const name = `${request.action.prefix}:${request.action.name}`.toLowerCase();
      const matches = (s: (typeof statements)[number]) =>
        (s.actions.includes(name) || s.actions.includes('kms:*')) &&
        s.resources.some((r) => r === '*' || (request.resource?.keyId !== undefined && r === `key/${request.resource.keyId}`) || (request.resource?.aliases ?? []).includes(r));
      if (statements.some((s) => s.effect === 'Deny' && matches(s))) return false;
      return statements.some((s) => s.effect === 'Allow' && matches(s));
    },
  };
}
