import type { KeyholdConfig } from '../../config.js';
import { KmsError } from '../../errors.js';
import { metrics } from '../../metrics/metrics.js';
import type { RemoteKeyProvider, RemoteKeyProviders, RemoteOrigin } from './remote-key-provider.js';

/**
 * The AWS KMS and Google Cloud KMS providers, each created on first use, so that their
 * SDKs are loaded (and their credential chains consulted) only by servers that use them.
 * Loading one stops the process for hundreds of milliseconds (synchronous module loading,
 * over a second on a loaded machine): `willBlock` is told first, so that a cluster's other
 * processes do not take the silence for a hang. `close()` releases the ones that were created.
 */
export function createRemoteKeyProviders(
  config: KeyholdConfig,
  warn: (message: string) => void = () => {},
  willBlock: () => void = () => {},
): RemoteKeyProviders & { close(): Promise<void> } {
  const limits = { timeoutMs: config.remote.timeoutMs, maxAttempts: config.remote.maxAttempts };
  const created = new Map<RemoteOrigin, Promise<RemoteKeyProvider>>();
  const make = async (origin: RemoteOrigin): Promise<RemoteKeyProvider> => {
    willBlock();
    if (origin === 'AWS_KMS') {
      const { AwsKmsProvider } = await import('./aws/index.js');
      return new AwsKmsProvider({ limits });
    }
    const { GcpKmsProvider } = await import('./gcp/index.js');
    const provider = new GcpKmsProvider({ limits, ...(config.remote.gcpEndpoint ? { endpoint: config.remote.gcpEndpoint } : {}) });
    if (provider.insecurePlaintext) {
      warn(`KEYHOLD_GCP_KMS_ENDPOINT ${config.remote.gcpEndpoint} is a loopback address: Google Cloud KMS calls go in plaintext (for emulators only)`);
    }
    return provider;
  };
  return {
    get(origin) {
      let provider = created.get(origin);
      if (!provider) {
        provider = make(origin).then(measured);
        // A failed creation is not remembered: the next call tries again.
        provider.catch(() => created.delete(origin));
        created.set(origin, provider);
      }
      return provider;
    },
    async close() {
      const providers = await Promise.allSettled(created.values());
      await Promise.allSettled(providers.flatMap((p) => (p.status === 'fulfilled' ? [p.value.close()] : [])));
    },
  };
}

/** The provider label of a remote origin. */
const PROVIDER_LABELS: Record<RemoteOrigin, string> = { AWS_KMS: 'aws_kms', GCP_KMS: 'gcp_kms' };

/**
 * The provider with its calls counted and timed (keyhold_provider_calls_total,
 * keyhold_provider_call_duration_seconds) when metrics are on; as it is when they are off.
 */
function measured(provider: RemoteKeyProvider): RemoteKeyProvider {
  if (!metrics.enabled) return provider;
  const label = PROVIDER_LABELS[provider.origin];
  const timed = <A extends unknown[], R>(call: string, run: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    const started = performance.now();
    try {
      const result = await run(...args);
      metrics.providerCall(label, call, 'Success', started);
      return result;
    } catch (error) {
      metrics.providerCall(label, call, error instanceof KmsError ? error.type : 'InternalError', started);
      throw error;
    }
  };
  return {
    origin: provider.origin,
    describe: timed('describe', (keyId: string) => provider.describe(keyId)),
    signDigest: timed('sign', (keyId: string, algorithm: Parameters<RemoteKeyProvider['signDigest']>[1], digest: Buffer) => provider.signDigest(keyId, algorithm, digest)),
    decrypt: timed('decrypt', (keyId: string, algorithm: Parameters<RemoteKeyProvider['decrypt']>[1], ciphertext: Buffer) => provider.decrypt(keyId, algorithm, ciphertext)),
    close: () => provider.close(),
  };
}
