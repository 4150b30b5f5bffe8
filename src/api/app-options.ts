import type { Logger } from 'pino';
import type { AuditSink } from '../audit/audit-trail.js';
import type { CompiledPolicy } from '../auth/policy.js';
import type { ReplayGuard } from '../auth/replay-guard.js';
import type { CredentialLookup } from '../auth/verify-signature.js';
import type { SnapshotSource } from '../backup/snapshots.js';
import type { AwsIdentity } from '../config.js';
import type { CredentialService } from '../kms/credential-service.js';
import type { KeyService } from '../kms/key-service.js';
import type { AccessLog } from './access-log.js';
import type { JsonAnswerWriter } from './json-answer.js';
import type { HeaderPairs } from './security-headers.js';

/**
 * What createApp takes (src/api/app.ts). Declared apart from it because the action route
 * (src/api/action-route.ts) and its doors (src/api/doors.ts) are given the same options, with
 * createApp's defaults filled in.
 */
export interface AppOptions {
  keyService: KeyService;
  /** The credentials: lookups here, changes where the store is. */
  credentials: CredentialService;
  /** Where each action request's audit record is written (before it is answered). */
  audit: AuditSink;
  /** Where state-changing requests' signatures are claimed, once. */
  replay: ReplayGuard;
  /** KEYHOLD_GOKMS_POLICY_FILE's policy for the go-kms legacy principal (admin when unset). */
  goKmsPolicy?: CompiledPolicy;
  /** Default: the credentials' own lookup. */
  lookupCredential?: (accessKeyId: string) => CredentialLookup | undefined;
  logger: Logger;
  /** Bytes of KEYHOLD_GOKMS_AUTH_KEY; enables go-kms's legacy signature scheme. */
  goKmsAuthKey?: Buffer;
  /** Whether the service can answer: false while sealed, when the store is down or the primary process hung. */
  isHealthy: () => boolean;
  /**
   * Whether the server is ready for traffic (/readyz): healthy, and (in a cluster) every worker
   * listening. Default: isHealthy.
   */
  isReady?: () => boolean;
  /**
   * KEYHOLD_REQUEST_TIMEOUT_MS: an action not answered within this answers 503 (counted from
   * the moment its body is read).
   */
  requestTimeoutMs?: number;
  clock?: () => Date;
  /** The store's snapshots: enables BackupStore (admin credentials only); undefined where backups are not offered. */
  backupSource?: SnapshotSource;
  /**
   * KEYHOLD_AWS_REGION and KEYHOLD_AWS_ACCOUNT_ID: the AWS door's region and the account of
   * its ARNs (default us-east-1, 111122223333).
   */
  aws?: AwsIdentity;
}

/** The options createApp fills in when they are left out. */
type Defaulted = 'lookupCredential' | 'requestTimeoutMs' | 'clock' | 'aws';

/** What the action route is given: the app's options with createApp's defaults filled in, and what createApp adds. */
export interface ActionRouteOptions extends Omit<AppOptions, Defaulted>, Required<Pick<AppOptions, Defaulted>> {
  answer: JsonAnswerWriter;
  logAccess: AccessLog;
  /** The security headers, for the answers not written by `answer` (BackupStore's stream, the AWS door). */
  security: HeaderPairs;
}
