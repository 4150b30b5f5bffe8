import cluster from 'node:cluster';
import https from 'node:https';
import { createApp } from '../api/app.js';
import { loadGoKmsPolicy } from '../auth/go-kms-policy.js';
import { StartupError } from '../errors.js';
import { CredentialService } from '../kms/credential-service.js';
import { enableMetrics } from '../metrics/metrics.js';
import { KeyService } from '../kms/key-service.js';
import { createRemoteKeyProviders } from '../providers/remote-keys/index.js';
import { closeGracefully, listen, SHUTDOWN_GRACE_MS } from '../runtime/listen.js';
import { createHttpsServer } from '../runtime/https-server.js';
import { createLogger } from '../runtime/logger.js';
import { AuditJournalWriter, journalFile } from '../audit/audit-journal.js';
import { deriveAuditKey } from '../store/audit-record.js';
import { forwardChanges, forwardCredentialChanges, remoteReplayGuard, workerAuditTrail } from './forwarding-key-service.js';
import { ConnectionBalance } from './connection-balance.js';
import { BLOCKING_BOUND_MS, PEER_TIMEOUT_MS } from './heartbeat.js';
import { PrimaryChannel, type WorkerPort } from './primary-channel.js';
import { RemoteSnapshots } from './remote-snapshots.js';
import { RemoteStore } from './remote-store.js';

/** The response header naming the worker that answered (its node:cluster id, from 1). */
export const WORKER_HEADER = 'X-Keyhold-Worker';

/**
 * A cluster worker: serves the HTTPS API with its own KeyService and caches, reads the store
 * through the primary and forwards every change to it. Exits 0 when told to shut down or on
 * SIGTERM (after in-flight requests), at once when the primary is gone (node:cluster exits a
 * worker whose channel closes unexpectedly), 1 when it cannot start.
 */
export async function runWorker(port: WorkerPort = process as unknown as WorkerPort): Promise<void> {
  const primary = new PrimaryChannel(port);
  const workerId = cluster.worker?.id ?? 0;
  // Ctrl-C in a terminal reaches every process of the group: the primary decides, and says so.
  process.on('SIGINT', () => {});

  const init = await primary.init();
  if (!init) process.exit(0);
  const rootKey = init.rootKey;
  // However the process ends, its copy of the root key does not outlive it in memory.
  process.once('exit', () => rootKey.fill(0));
  const config = init.config;
  const logger = createLogger(config.logLevel, undefined, config.logFormat).child({ worker: workerId });
  // Measured here, summed with the other processes' by the primary when scraped.
  const registry = config.metrics === undefined ? undefined : enableMetrics().registry;

  const store = new RemoteStore(primary);
  const remoteProviders = createRemoteKeyProviders(config, (message) => logger.warn(message), () => primary.willBlock(BLOCKING_BOUND_MS));
  const keyService = new KeyService({
    store,
    rootKey,
    remoteProviders,
    versionKeyCacheSize: config.keyCacheSize,
    keyRecordCacheSize: config.keyCacheSize,
    aws: config.aws,
    ciphertextFormat: config.ciphertextFormat,
  });
  let credentials: CredentialService | undefined;
  // A change told while the credentials are first read may have come after that read.
  let credentialsChangedWhileLoading = false;
  const goKmsPolicy = loadGoKmsPolicy(config);
  let server: https.Server | undefined;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (server?.listening) await closeGracefully(server, SHUTDOWN_GRACE_MS);
      keyService.clearCaches();
      await remoteProviders.close();
      rootKey.fill(0);
      process.exit(0);
    })();
  };
  primary.handle({
    forget: async (change) => {
      keyService.forgetCached(change);
      // A disabled or deleted credential stops verifying here before its change is answered.
      if (change.credentials) {
        if (credentials) await credentials.reload();
        else credentialsChangedWhileLoading = true;
      }
    },
    shutdown: stop,
    disconnected: stop,
    failed: (error) => {
      logger.error({ err: error }, 'could not drop stale cached state; stopping this worker');
      process.exit(1);
    },
    metrics: async () => (registry ? registry.getMetricsAsJSON() : []),
    primaryHung: (hung) => {
      if (hung) logger.error({ timeoutMs: PEER_TIMEOUT_MS }, 'the primary process stopped answering; answering 503 until it does');
      else logger.info('the primary process answers again');
    },
  });
  primary.watchPrimary();
  process.once('SIGTERM', stop);

  try {
    const auditKey = deriveAuditKey(rootKey);
    process.once('exit', () => auditKey.fill(0));
    const journal = init.journalId === undefined ? undefined : new AuditJournalWriter(journalFile(config.dataDir, init.journalId), init.journalId, auditKey);
    credentials = await CredentialService.load(store, rootKey);
    // Read again if told of a change meanwhile: otherwise this worker could keep, until the next
    // change, a set read before a credential another node had just made (401 for it here).
    if (credentialsChangedWhileLoading) await credentials.reload();
    const app = createApp({
      keyService: forwardChanges(keyService, primary),
      credentials: forwardCredentialChanges(credentials, primary),
      audit: workerAuditTrail(primary, journal),
      replay: remoteReplayGuard(primary),
      goKmsPolicy,
      aws: config.aws,
      logger,
      goKmsAuthKey: config.goKmsAuthKey === undefined ? undefined : Buffer.from(config.goKmsAuthKey, 'utf8'),
      isHealthy: () => primary.healthy,
      isReady: () => primary.ready,
      backupSource: new RemoteSnapshots(primary),
      requestTimeoutMs: config.requestTimeoutMs,
    });
    const balance = new ConnectionBalance(() => primary.fairShare);
    server = createHttpsServer(init.tls, config, (req, res) => {
      res.setHeader(WORKER_HEADER, String(workerId));
      // This worker holds more than its share of the connections: this one is to go elsewhere.
      if (balance.shed(req.socket)) res.setHeader('Connection', 'close');
      app(req, res);
    });
    server.on('secureConnection', balance.opened);
    primary.connections = () => balance.connections;
    const listeningPort = await listen(server, { host: config.host, port: init.port });
    primary.send({ type: 'listening', port: listeningPort });
  } catch (error) {
    const message = error instanceof StartupError ? error.message : `a worker could not start: ${(error as Error).message}`;
    // The primary reports it (one line) and stops; this worker says nothing itself.
    primary.send({ type: 'failed', message }, () => process.exit(1));
  }
}
