import path from 'node:path';
import https from 'node:https';
import type { Logger } from 'pino';
import { createApp } from '../api/app.js';
import { refuseUnfinishedRestore } from '../backup/restore-marker.js';
import { StoreSnapshots } from '../backup/snapshots.js';
import { startCluster, type RunningCluster } from '../cluster/primary.js';
import { BLOCKING_BOUND_MS } from '../cluster/heartbeat.js';
import type { KeyholdConfig } from '../config.js';
import { AuditJournals } from '../audit/audit-journal.js';
import { AuditTrail } from '../audit/audit-trail.js';
import { loadGoKmsPolicy } from '../auth/go-kms-policy.js';
import { ReplayMemory, SharedReplayGuard } from '../auth/replay-guard.js';
import { CredentialService } from '../kms/credential-service.js';
import { KeyService } from '../kms/key-service.js';
import { openRootKey } from '../kms/root-key.js';
import { enableMetrics } from '../metrics/metrics.js';
import { scrapeOf, startMetricsServer, type MetricsServer } from '../metrics/metrics-server.js';
import { registerStoreGauges, timeStoreOperations } from '../metrics/store-metrics.js';
import { createMasterKeyProvider, type MasterKeyProvider } from '../providers/master-keys/index.js';
import { createRemoteKeyProviders } from '../providers/remote-keys/index.js';
import { closeGracefully, listen, SHUTDOWN_GRACE_MS, urlHost } from '../runtime/listen.js';
import { createHttpsServer } from '../runtime/https-server.js';
import { loadTlsMaterial } from '../runtime/tls.js';
import { isLoopbackHost } from '../runtime/loopback.js';
import type { Store } from '../store/store.js';
import { ADMIN_CREDENTIALS_FILE, createFirstAdminCredential, makeDataDir } from './admin-credentials.js';
import { openConfiguredStore } from './open-store.js';
import { checkSecretFileModes } from './secret-files.js';

/** How often due key rotations and deletions are looked for. */
const SCHEDULER_INTERVAL_MS = 60_000;
/** How often a node of a shared store asks for the background work's lease (how soon it moves when its holder dies). */
const LEASE_CHECK_INTERVAL_MS = 3_000;

export interface RunningServer {
  url: string;
  port: number;
  certSha256: string;
  /** Stops accepting, finishes in-flight requests, closes the store. */
  close(): Promise<void>;
}

/**
 * Starts Keyhold: opens the store, unwraps the root key with the master key, loads the
 * credentials and the certificate, and listens. Every failure before listening is a
 * StartupError that names the setting at fault, with the store left as it was.
 *
 * With KEYHOLD_WORKERS > 1 this process keeps the store, the scheduler and the credentials,
 * and HTTP workers (node:cluster, src/cluster) serve the port; with 1 it serves itself.
 */
export async function startServer(config: KeyholdConfig, logger: Logger): Promise<RunningServer> {
  refuseUnfinishedRestore(config.dataDir);
  checkSecretFileModes(config, (message, fields) => logger.warn(fields, message));
  makeDataDir(config.dataDir);
  // The master key first: a missing passphrase or a wrong PIN fails before the store is
  // touched, so a failed first start leaves no empty store behind.
  const provider = createMasterKeyProvider(config, (message) => {
    logger.warn(message);
    // Loud on purpose: a development passphrase must not go unnoticed into real use.
    process.stderr.write(`\n!!! keyhold: ${message}\n\n`);
  });
  let workers: RunningCluster | undefined;
  // Forwarded changes make remote keys here: the workers are told before an SDK load stops this process.
  const remoteProviders = createRemoteKeyProviders(config, (message) => logger.warn(message), () => workers?.willBlock(BLOCKING_BOUND_MS));
  let store: Store | undefined;
  let rootKey: Buffer | undefined;
  let scheduler: Scheduler | undefined;
  let journals: AuditJournals | undefined;
  let server: https.Server | undefined;
  let metricsServer: MetricsServer | undefined;
  // Set once shutting down: /readyz answers 503 from then on.
  let stopping = false;
  const metrics = config.metrics === undefined ? undefined : enableMetrics();
  try {
    store = await openConfiguredStore(config);
    if (metrics) timeStoreOperations(store, metrics);
    const opened = await openRootKey(store, provider);
    rootKey = opened.rootKey;
    if (opened.created) logger.info({ dataDir: config.dataDir, master: provider.kind }, 'initialised a new store');

    if (!opened.auditHeadMatches) {
      logger.error({ dataDir: config.dataDir }, "the audit trail's head does not match its newest record: records may have been removed or the head moved; run keyhold admin audit verify");
    }

    const keyService = new KeyService({ store, rootKey, remoteProviders, versionKeyCacheSize: config.keyCacheSize, keyRecordCacheSize: config.keyCacheSize, aws: config.aws, ciphertextFormat: config.ciphertextFormat });
    // The records a previous run's workers left in their journals go into the trail first.
    journals = new AuditJournals(store, config.dataDir, rootKey, logger, (journalId) => workers?.stopJournalWriter(journalId));
    await journals.start();
    const openJournals = journals;
    const audit = new AuditTrail(store, journals);
    // Nodes that share a store also share their claims: a request is accepted by one node only.
    const replay = config.storeUrl === undefined ? new ReplayMemory() : new SharedReplayGuard(new ReplayMemory(), store);
    const goKmsPolicy = loadGoKmsPolicy(config);
    reportStoreEvents(store, keyService, logger);
    scheduler = startScheduler(keyService, audit, store, config, logger);
    await scheduler.runNow();
    const credentials = await CredentialService.load(store, rootKey);
    const tls = await loadTlsMaterial(config);
    const openStore = store;
    // What other nodes sharing the store changed: this process's caches, and its workers', forget it.
    // A change that comes while the workers start (some may have read the store already) is told
    // to them all once they listen.
    let missedByWorkers: { credentials: boolean } | undefined;
    store.onExternalChange((change) => {
      keyService.forgetCached(change);
      if (change.credentials) {
        credentials.reload().catch((error: unknown) => logger.error({ err: error }, 'could not reload the credentials another node changed'));
      }
      if (workers) void workers.forget(change);
      else if (config.workers > 1) missedByWorkers = { credentials: (missedByWorkers?.credentials ?? false) || change.credentials };
    });
    // What another node changed between the first read of the credentials and the line above
    // was told to no one: read them once more now that every later change is heard.
    await credentials.reload();
    const snapshots = new StoreSnapshots(store, undefined, () => openJournals.catchUp());
    if (config.goKmsAuthKey !== undefined) {
      logger.warn(
        goKmsPolicy
          ? "KEYHOLD_GOKMS_AUTH_KEY is set: go-kms's legacy signatures (which do not cover the body) act under KEYHOLD_GOKMS_POLICY_FILE's policy on /api/v1/go-kms/"
          : "KEYHOLD_GOKMS_AUTH_KEY is set: go-kms's legacy signatures (which do not cover the body) act as admin on /api/v1/go-kms/",
      );
    }

    // Before the workers start: a metrics address in use stops the server before it serves.
    if (config.metrics !== undefined && metrics?.registry) {
      registerStoreGauges(metrics.registry, openStore, config.workers > 1 ? () => workers?.workersListening() ?? 0 : undefined);
      metricsServer = await startMetricsServer(config.metrics, scrapeOf(metrics.registry, () => workers), (error) => logger.error({ err: error }, 'a metrics scrape failed'));
      logger.info({ address: `${urlHost(config.metrics.host)}:${metricsServer.port}`, port: metricsServer.port }, 'metrics listening');
      if (!isLoopbackHost(config.metrics.host)) {
        logger.warn({ address: `${urlHost(config.metrics.host)}:${metricsServer.port}` }, 'KEYHOLD_METRICS_ADDR is not a loopback address: /metrics answers anyone who can reach it, without a credential or TLS (keep it on a monitoring network)');
      }
    }

    let port: number;
    if (config.workers > 1) {
      workers = await startCluster({ config, logger, store, keyService, credentials, audit, journals, replay, snapshots, rootKey, tls });
      port = workers.port;
      if (missedByWorkers) await workers.forget({ keys: [], aliases: true, credentials: missedByWorkers.credentials, everything: true });
    } else {
      const app = createApp({
        keyService,
        credentials,
        audit,
        replay,
        goKmsPolicy,
        aws: config.aws,
        logger,
        goKmsAuthKey: config.goKmsAuthKey === undefined ? undefined : Buffer.from(config.goKmsAuthKey, 'utf8'),
        isHealthy: () => openStore.isHealthy,
        // The master key is loaded and the audit trail's key in use by now; its records go to the store.
        isReady: () => openStore.isHealthy && !stopping,
        backupSource: snapshots,
        requestTimeoutMs: config.requestTimeoutMs,
      });
      server = createHttpsServer(tls, config, app);
      port = await listen(server, config);
    }
    const url = `https://${urlHost(config.host)}:${port}`;

    // A node joining a shared store that another node is making gives that node time to make
    // the first admin credential, so that two nodes started together make one, not two.
    if (credentials.size === 0 && config.storeUrl !== undefined && !opened.created) await waitForFirstCredential(credentials);
    if (credentials.size === 0) {
      const admin = await createFirstAdminCredential(credentials, config.dataDir, { Url: url, CertSha256: tls.certSha256 }, (message, fields) =>
        logger.warn(fields, message),
      );
      logger.info({ file: path.join(config.dataDir, ADMIN_CREDENTIALS_FILE), accessKeyId: admin.accessKeyId }, 'created the admin credential (secret only in the file)');
    }
    logger.info({ url, certSha256: tls.certSha256, selfSigned: tls.selfSigned, dataDir: config.dataDir, store: store.location }, 'keyhold is listening');

    const listening = server;
    const serving = workers;
    const scraped = metricsServer;
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        stopping = true;
        logger.info('shutting down: finishing in-flight requests');
        await scraped?.close();
        // Workers finish their requests first: the store still answers them meanwhile.
        if (serving) await serving.close();
        else await closeGracefully(listening!, SHUTDOWN_GRACE_MS);
        await scheduler!.stop();
        // The workers have exited: the last of their journals' records are in the store now.
        await openJournals.close();
        await snapshots.closeAll();
        openStore.onExternalChange(undefined);
        keyService.clearCaches();
        await openStore.close();
        await remoteProviders.close();
        await provider.close();
        rootKey!.fill(0);
        logger.info('stopped');
      })();
      return closing;
    };
    return { url, port, certSha256: tls.certSha256, close };
  } catch (error) {
    await metricsServer?.close();
    await workers?.close();
    if (server?.listening) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    }
    await scheduler?.stop();
    await journals?.close();
    rootKey?.fill(0);
    await remoteProviders.close();
    await provider.close();
    await store?.close();
    throw error;
  }
}

/**
 * Logs what the store reports, one line each, naming the cause and what happens next; after
 * a reopen this process forgets everything it cached (a failed write may have landed).
 */
function reportStoreEvents(store: Store, keyService: KeyService, logger: Logger): void {
  store.health.on((event) => {
    switch (event.type) {
      case 'write-failed':
        logger.error({ store: store.location, cause: event.cause }, `the store cannot write (${event.cause}): writes answer 503 until it has been reopened`);
        return;
      case 'reopen-failed':
        logger.error({ store: store.location, cause: event.cause, retryInMs: event.retryInMs }, `the store could not be reopened (${event.cause}); trying again`);
        return;
      case 'recovered':
        keyService.clearCaches();
        logger.warn({ store: store.location, afterMs: event.afterMs }, 'the store was reopened and takes writes again');
        return;
      case 'read-failed':
        logger.error({ store: store.location, what: event.what, cause: event.cause }, `the store could not read ${event.what} (${event.cause})`);
        return;
    }
  });
}

/** How long a node joining a new shared store waits for the node that made it to make the admin credential. */
const FIRST_CREDENTIAL_WAIT_MS = 10_000;

async function waitForFirstCredential(credentials: CredentialService): Promise<void> {
  const until = Date.now() + FIRST_CREDENTIAL_WAIT_MS;
  while (credentials.size === 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await credentials.reload();
  }
}

interface Scheduler {
  runNow(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs the due rotations and deletions, and the audit trail's retention, at start and every
 * minute, with this process's clock, when this process leads the background work (always on
 * LevelDB; on a shared store, the one node holding the lease, which another node takes within
 * seconds of its death: asked every few seconds). One run at a time; stop() waits for a run
 * in progress, so the store is never closed under it.
 */
function startScheduler(keyService: KeyService, audit: AuditTrail, store: Store, config: KeyholdConfig, logger: Logger): Scheduler {
  let running: Promise<void> = Promise.resolve();
  let leading = false;
  let lastRun = 0;
  const work = async () => {
    try {
      const { rotated, deleted, expired, failed } = await keyService.runScheduledWork();
      if (rotated.length > 0 || deleted.length > 0 || expired.length > 0) logger.info({ rotated, deleted, expired }, 'scheduled rotations, deletions and expiries done');
      for (const failure of failed) logger.error({ keyId: failure.keyId, err: failure.error }, 'a scheduled rotation or deletion failed');
    } catch (error) {
      logger.error({ err: error }, 'scheduled rotations and deletions failed');
    }
    if (config.auditRetentionDays === undefined) return;
    try {
      const removed = await audit.removeBefore(new Date(Date.now() - config.auditRetentionDays * 86_400_000));
      if (removed > 0) logger.info({ removed, retentionDays: config.auditRetentionDays }, 'removed audit records past their retention');
    } catch (error) {
      logger.error({ err: error }, 'the audit retention could not run');
    }
  };
  /** Runs the work if this process leads it and it is due (`force`: due now). */
  const tick = (force: boolean) => {
    running = running.then(async () => {
      const leads = await store.leadsBackgroundWork();
      if (leads !== leading) logger.info(leads ? 'this node now runs the background work (rotations, deletions, retention)' : 'another node runs the background work now');
      const tookOver = leads && !leading;
      leading = leads;
      if (!leads || (!force && !tookOver && Date.now() - lastRun < SCHEDULER_INTERVAL_MS - LEASE_CHECK_INTERVAL_MS)) return;
      lastRun = Date.now();
      await work();
    });
    return running;
  };
  const timer = setInterval(() => void tick(false), config.storeUrl === undefined ? SCHEDULER_INTERVAL_MS : LEASE_CHECK_INTERVAL_MS);
  timer.unref();
  return {
    runNow: () => tick(true),
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
