import type { KeyholdConfig } from '../../config.js';
import type { RemoteKeyProvider, RemoteKeyProviders, RemoteOrigin } from './remote-key-provider.js';

/**
 * The AWS KMS and Google Cloud KMS providers, each created on first use, so that their
 * SDKs are loaded (and their credential chains consulted) only by servers that use them.
 * `close()` releases the ones that were created.
 */
export function createRemoteKeyProviders(
  config: KeyholdConfig,
  warn: (message: string) => void = () => {},
): RemoteKeyProviders & { close(): Promise<void> } {
  const limits = { timeoutMs: config.remote.timeoutMs, maxAttempts: config.remote.maxAttempts };
  const created = new Map<RemoteOrigin, Promise<RemoteKeyProvider>>();
  const make = async (origin: RemoteOrigin): Promise<RemoteKeyProvider> => {
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
        provider = make(origin);
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
