import type { CompiledPolicy } from './policy.js';

/**
 * Who a verified request acts as. Produced by the signature verifier, consumed by the
 * permission checks; it carries no secret.
 */
export interface Principal {
  /** The credential's access key id, or `go-kms-legacy` for the go-kms shared-key scheme. */
  accessKeyId: string;
  /** Whether the credential may do everything, including managing credentials. */
  admin: boolean;
  /** What a non-admin credential may do (undefined for admins). */
  policy?: CompiledPolicy;
}
