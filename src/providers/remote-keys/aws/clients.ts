import { KMSClient } from '@aws-sdk/client-kms';
import { ValidationException } from '../../../errors.js';

/**
 * One KMSClient per AWS region, made on first use. Credentials, the default region and the
 * endpoint come from the SDK's standard chain (environment, shared config, instance roles),
 * so AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL keep working: no `endpoint` is passed here.
 */

export interface AwsKmsClientSettings {
  /** SDK attempts per call; the SDK retries only throttling, timeouts and 5xx. */
  maxAttempts: number;
  /** Deadline of one HTTP attempt (connection and answer). */
  attemptTimeoutMs: number;
  /** Region for key ids that are not ARNs; the SDK's chain decides when absent. */
  region?: string;
}

/**
 * The region a key ARN names (arn:PARTITION:kms:REGION:ACCOUNT:key/ID, or alias/NAME), or
 * undefined for a bare key id or alias name, which the default region resolves.
 */
export function regionOfKeyArn(providerKeyId: string): string | undefined {
  const match = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(?:key|alias)\/.+$/.exec(providerKeyId);
  return match?.[1];
}

// arn:PARTITION:kms:REGION:ACCOUNT:key/ID; multi-Region keys have ids like mrk-1234abcd….
const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z]{2}(?:-[a-z]+)+-\d{1,2}:\d{12}:key\/[A-Za-z0-9-]{1,128}$/;

/**
 * Refuses anything but a key ARN. An alias (or a bare id) can be pointed at another key later,
 * which would then sign while Keyhold verifies with the public key it stored.
 */
export function assertKeyArn(providerKeyId: string): void {
  if (!KEY_ARN.test(providerKeyId)) {
    throw new ValidationException('ProviderKeyId must be an AWS KMS key ARN: arn:aws:kms:<region>:<account>:key/<key id> (not an alias)');
  }
}

/** At most this many regional clients are kept; the least recently used one is closed. */
const MAX_REGION_CLIENTS = 16;

const NODE_VERSION_WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Builds a client without the SDK's NodeVersionSupportWarning (it asks for Node 22; Keyhold
 * supports Node 20). The SDK reads the switch synchronously in the constructor, so it is set
 * only for that moment and only when the user has not set it, and the environment is left as
 * it was.
 */
function withoutNodeVersionWarning(make: () => KMSClient): KMSClient {
  if (process.env[NODE_VERSION_WARNING_SWITCH] !== undefined) return make();
  process.env[NODE_VERSION_WARNING_SWITCH] = 'true';
  try {
    return make();
  } finally {
    delete process.env[NODE_VERSION_WARNING_SWITCH];
  }
}

export class AwsKmsClients {
  private readonly byRegion = new Map<string, KMSClient>();
  private closed = false;

  constructor(private readonly settings: AwsKmsClientSettings) {}

  /** The client for the region the key names, else for the configured or default region. */
  forKey(providerKeyId: string): KMSClient | undefined {
    if (this.closed) return undefined;
    const region = regionOfKeyArn(providerKeyId) ?? this.settings.region;
    const cacheKey = region ?? '';
    let client = this.byRegion.get(cacheKey);
    if (client) {
      // Most recently used last, so the first entry is the one to close.
      this.byRegion.delete(cacheKey);
      this.byRegion.set(cacheKey, client);
    } else {
      if (this.byRegion.size >= MAX_REGION_CLIENTS) {
        const [oldestRegion, oldest] = this.byRegion.entries().next().value!;
        this.byRegion.delete(oldestRegion);
        oldest.destroy();
      }
      client = withoutNodeVersionWarning(
        () =>
          new KMSClient({
            ...(region ? { region } : {}),
            maxAttempts: this.settings.maxAttempts,
            requestHandler: {
              connectionTimeout: this.settings.attemptTimeoutMs,
              requestTimeout: this.settings.attemptTimeoutMs,
              // Without this the SDK only logs a slow answer and keeps waiting.
              throwOnRequestTimeout: true,
            },
          }),
      );
      this.byRegion.set(cacheKey, client);
    }
    return client;
  }

  destroyAll(): void {
    this.closed = true;
    for (const client of this.byRegion.values()) client.destroy();
    this.byRegion.clear();
  }
}
