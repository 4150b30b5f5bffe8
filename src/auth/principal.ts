/**
 * Who a verified request acts as. Produced by the signature verifier, consumed by the
 * permission checks; it carries no secret.
 */
export interface Principal {
  /** The credential's access key id, or `go-kms-legacy` for the go-kms shared-key scheme. */
  accessKeyId: string;
  /** Whether the credential may manage keys and credentials without further grants. */
  admin: boolean;
}
