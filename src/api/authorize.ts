/**
 * Who may do what (docs/design.md, "Principals, policies and the audit trail"): checked for every
 * action, before any key material is touched. Admins may do everything; every other
 * credential only what its policy allows, on the keys the request names. A denial says the
 * same whether or not the key exists.
 */
import type { PolicyAction } from '../auth/policy.js';
import type { Principal } from '../auth/principal.js';
import { AccessDeniedException } from '../errors.js';
import type { KeyService } from '../kms/key-service.js';
import type { ActionAccess } from './action.js';

/**
 * Throws AccessDeniedException unless `principal` may run the action on what `input` names.
 * Each key named by a field is pinned to the key the policy saw (an alias is replaced by its
 * KeyId), so that an alias moved meanwhile cannot make the action run on another key.
 * Returns the KeyId of the first key named, when it was looked up.
 */
export async function authorize(
  principal: Principal,
  access: ActionAccess,
  input: Record<string, unknown>,
  keyService: KeyService,
  /** Told the KeyId of the first key named, once looked up (also when the request is then denied: for its audit record). */
  seen: (keyId: string) => void = () => {},
): Promise<string | undefined> {
  // Admins may do everything; a batch action is checked item by item (src/api/actions/batch.ts).
  if (principal.admin || access.perItem) return undefined;
  const policy = principal.policy;
  /* Precondition: a non-admin credential calls no admin action and has a policy. */
  if (access.adminOnly || !policy) throw denied(principal, access.policyAction, access);
  const references = access.keys?.(input) ?? [];
  if (references.length === 0) {
    const action: PolicyAction = { prefix: access.keyholdPrefix ? 'keyhold' : 'kms', name: access.policyAction };
    if (!policy.allows({ action, encryptionContext: contextOf(input, access.contextField) })) throw denied(principal, access.policyAction, access);
    return undefined;
  }
  let first: string | undefined;
  for (const reference of references) {
    const name = reference.policyAction ?? access.policyAction;
    const named = reference.blob !== undefined ? input[reference.blob] : input[reference.field];
    const resource =
      reference.blob !== undefined
        ? Buffer.isBuffer(named) ? await keyService.policyResourceOfBlob(named) : undefined
        : typeof named === 'string' ? await keyService.policyResource(named) : undefined;
    const action: PolicyAction = { prefix: access.keyholdPrefix ? 'keyhold' : 'kms', name };
    if (first === undefined && resource?.keyId) seen(resource.keyId);
    if (!policy.allows({ action, resource, encryptionContext: contextOf(input, reference.contextField ?? access.contextField) })) {
      throw denied(principal, name, access);
    }
    // An alias in a KeyId field becomes the key it named when checked. (AliasName stays a name.)
    if (reference.field !== undefined && reference.field !== 'aliasname' && resource?.found && resource.keyId) input[reference.field] = resource.keyId;
    first ??= resource?.keyId;
  }
  return first;
}

function contextOf(input: Record<string, unknown>, field: string | undefined): Readonly<Record<string, string>> | undefined {
  return field === undefined ? undefined : (input[field] as Readonly<Record<string, string>> | undefined);
}

/** One message per credential and action: nothing in it depends on the key or whether it exists. */
function denied(principal: Principal, policyAction: string, access: ActionAccess): Error {
  const prefix = access.keyholdPrefix ? 'keyhold' : 'kms';
  const why = access.adminOnly ? 'it needs an admin credential' : 'no policy statement allows it on this resource';
  return new AccessDeniedException(`${principal.accessKeyId} is not authorized to perform ${prefix}:${policyAction}: ${why}`);
}
