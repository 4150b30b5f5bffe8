import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { SnapshotSource } from '../backup/snapshots.js';
import type { KeyholdConfig } from '../config.js';
import { KmsError, StartupError } from '../errors.js';
import type { AuditJournals } from '../audit/audit-journal.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { ReplayGuard } from '../auth/replay-guard.js';
import type { CredentialService } from '../kms/credential-service.js';
import type { KeyService } from '../kms/key-service.js';
import { metrics } from '../metrics/metrics.js';
import { summedMetrics } from '../metrics/metrics-server.js';
import { SHUTDOWN_GRACE_MS } from '../runtime/listen.js';
import type { TlsMaterial } from '../runtime/tls.js';
import type { Store, StoreChange } from '../store/store.js';
import { createCallHandler } from './calls.js';
import { BLOCKING_BOUND_MS, PEER_TIMEOUT_MS, startWatchdog } from './heartbeat.js';
import { MessageBatcher } from './message-batcher.js';
import { EMPTIED_IN_WORKERS, WORKER_PROGRAM, workerExecArgv } from './worker-process.js';
import { toWireError, workerConfig, type CallRequest, type PrimaryMessage, type WorkerMessage } from './protocol.js';

/** How often the primary looks at its store's health, to tell the workers of a change. */
const HEALTH_INTERVAL_MS = 1_000;
/** Workers get the shutdown grace, and this much more, before they are killed. */
const STOP_MARGIN_MS = 5_000;
/** Restart delays grow with the crashes of the last minute: 100 ms, 200 ms, … up to 30 s. */
const RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 30_000;
const CRASH_WINDOW_MS = 60_000;
/** A scrape waits this long for a worker's metrics; one that does not answer is left out of that scrape. */
const METRICS_WAIT_MS = 2_000;

export interface ClusterOptions {
  config: KeyholdConfig;
  logger: Logger;
  /** The store this process owns; workers read it through this process. */
  store: Store;
  /** This process's KeyService: it runs every change a worker forwards. */
  keyService: KeyService;
  /** The credentials: changes a worker forwards run here. */
  credentials: CredentialService;
  /** The audit trail every worker writes its records to (those of requests that changed nothing through its journal). */
  audit: AuditTrail;
  /**
   * The workers' audit journals: one per worker's life, moved into the store when it exits.
   * Unset: every record goes to the primary before its answer (tests of that path).
   */
  journals?: AuditJournals;
  /** The signatures of state-changing requests, claimed once across all workers. */
  replay: ReplayGuard;
  /** The store's backup snapshots, which workers read page by page. */
  snapshots: SnapshotSource;
  rootKey: Buffer;
  tls: TlsMaterial;
}

export interface RunningCluster {
  /** The port the workers share (the real one when KEYHOLD_PORT is 0). */
  port: number;
  /** Lets every worker finish its in-flight requests, and resolves when all have exited. */
  close(): Promise<void>;
  /** Tells every worker to forget a change another node made; resolves once each has. */
  forget(change: StoreChange): Promise<void>;
  /** Workers that listen now. */
  workersListening(): number;
  /** Each listening worker's metrics (prom-client's getMetricsAsJSON), for a scrape. */
  workerMetrics(): Promise<unknown[][]>;
  /** Tells every worker, now, that this process may not run for up to `ms` (it loads a cloud SDK). */
  willBlock(ms: number): void;
  /** Kills the worker that writes this audit journal (it does not check: its records cannot reach the trail); another starts. */
  stopJournalWriter(journalId: string): void;
}

interface WorkerState {
  worker: Worker;
  /** Whether it has been sent the init message (from then on it caches, and must be told of changes). */
  initialized: boolean;
  listening: Promise<number>;
  /** It has said it listens (and has not exited since). */
  listeningNow: boolean;
  listened(port: number): void;
  failed(error: Error): void;
  /** Changes sent to it and not yet confirmed, by id, with when they were sent (performance.now()). */
  forgets: Map<number, { confirm(): void; since: number }>;
  /** When it was last heard from (performance.now()); watched once it is initialized. */
  lastHeard: number;
  /** Until when (performance.now()) its silence is expected: it said it would block. */
  blockingUntil: number;
  /** Killed for not answering: its exit is on its way. */
  killed: boolean;
  /** Its open API connections, as its last heartbeat said (for the fair share: src/cluster/connection-balance.ts). */
  connections: number;
  /** Its side of the channel: answers to its calls go out once per turn of the event loop. */
  outgoing: MessageBatcher<PrimaryMessage>;
  exited: Promise<void>;
  /** Its audit journal, once it was sent the init message. */
  journalId?: string;
  /** Its metrics as it last reported them (getMetricsAsJSON), stood in for it when it is late. */
  lastMetrics?: unknown[];
  /** The scrapes waiting for its answer, ended (without its numbers) when it exits. */
  metricsWaits: Set<() => void>;
}

/**
 * Forks KEYHOLD_WORKERS HTTP workers (node:cluster) and waits until every one listens. This
 * process keeps the store and serves the workers' calls; it never serves HTTP itself.
 * Every committed change is forgotten by every worker before its writer is answered.
 */
export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const primary = new ClusterPrimary(options);
  try {
    await primary.start();
  } catch (error) {
    await primary.close();
    throw error;
  }
  return primary;
}

class ClusterPrimary implements RunningCluster {
  port: number;
  private readonly workers = new Map<number, WorkerState>();
  private readonly answer: (request: CallRequest) => Promise<unknown>;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly crashes: number[] = [];
  private healthTimer: NodeJS.Timeout | undefined;
  private stopWatchdog: (() => void) | undefined;
  private healthy: boolean;
  private readyNow = false;
  private started = false;
  private metricsSequence = 0;
  private readonly metricsRequests = new Map<number, (metrics: unknown[]) => void>();
  /**
   * The counters and histograms of workers that exited, as last reported, summed: kept in every
   * scrape so that a sum over the workers never goes down when one is replaced (Prometheus would
   * take the drop for a reset and count the other workers' whole totals again).
   */
  private retiredMetrics: unknown[][] = [];
  private stopping = false;
  private forgetSequence = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ClusterOptions) {
    this.port = options.config.port;
    this.answer = createCallHandler(options);
    this.healthy = options.store.isHealthy;
  }

  async start(): Promise<void> {
    const { config, store, logger } = this.options;
    // Workers accept connections from the shared socket themselves, instead of this process
    // accepting and handing each one to the next worker in turn: a stopped worker then takes no
    // new connection, and a stopped primary does not stop new connections (decision 52).
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: WORKER_PROGRAM, execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS), serialization: 'advanced', silent: false });
    store.onCommit((change) => this.forgetEverywhere(change));
    // A write failure or a reopen reaches the workers at once, not at the next health check.
    store.health.on(() => this.checkHealth());
    // All at once: with port 0, node:cluster gives every worker that asks for port 0 on the
    // same address the same listening socket, so they share the port it picked.
    const ports = await Promise.all(Array.from({ length: config.workers }, () => this.fork().listening));
    this.port = ports[0]!;
    /* Postcondition: every worker serves the one port that is reported. */
    if (ports.some((port) => port !== this.port)) throw new Error(`the workers listen on different ports: ${ports.join(', ')}`);
    this.started = true;
    this.healthTimer = setInterval(() => this.checkHealth(), HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
    this.stopWatchdog = startWatchdog(
      (now) => this.watchWorkers(now),
      (now) => this.forgiveSilence(now),
    );
    logger.info({ workers: config.workers }, 'every worker is listening');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      this.checkHealth();
      clearInterval(this.healthTimer);
      this.stopWatchdog?.();
      for (const timer of this.restartTimers) clearTimeout(timer);
      const states = [...this.workers.values()];
      for (const state of states) {
        // A worker not yet initialised gets `shutdown` in answer to its `ready`.
        if (state.initialized) this.send(state, { type: 'shutdown' });
      }
      await Promise.all(
        states.map(async (state) => {
          const timer = setTimeout(() => state.worker.process.kill('SIGKILL'), SHUTDOWN_GRACE_MS + STOP_MARGIN_MS);
          await state.exited;
          clearTimeout(timer);
        }),
      );
      // Only now: the workers' last requests could still change keys.
      this.options.store.onCommit(undefined);
    })();
    return this.closing;
  }

  private fork(): WorkerState {
    const worker = cluster.fork(EMPTIED_IN_WORKERS);
    let listened!: (port: number) => void;
    let failed!: (error: Error) => void;
    const listening = new Promise<number>((resolve, reject) => {
      listened = resolve;
      failed = reject;
    });
    // Observed by start(); a restarted worker's failure is logged where it exits.
    listening.catch(() => {});
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const outgoing = new MessageBatcher<PrimaryMessage>((message, sent) => {
      // Sending to a worker that is going away fails; its 'exit' does the cleaning up.
      if (worker.isConnected()) worker.send(message, undefined, {}, sent);
      else sent(new Error('the worker has disconnected'));
    });
    const state: WorkerState = { worker, initialized: false, listening, listeningNow: false, listened, failed, forgets: new Map(), outgoing, exited, lastHeard: performance.now(), blockingUntil: 0, killed: false, connections: 0, metricsWaits: new Set() };
    this.workers.set(worker.id, state);
    worker.on('message', (message: WorkerMessage) => this.receive(state, message));
    worker.on('exit', (code, signal) => this.exited(state, code, signal));
    // Sending to a worker that is going away fails; its 'exit' does the cleaning up.
    worker.on('error', () => {});
    return state;
  }

  private receive(state: WorkerState, message: WorkerMessage): void {
    state.lastHeard = performance.now();
    switch (message.type) {
      case 'batch':
        for (const each of message.messages) this.receive(state, each);
        return;
      case 'ready':
        if (this.stopping) {
          this.send(state, { type: 'shutdown' });
          return;
        }
        state.initialized = true;
        state.lastHeard = performance.now();
        state.journalId = this.options.journals?.newJournal();
        this.send(state, {
          type: 'init',
          config: workerConfig(this.options.config),
          // The configured port, also for a restarted worker: node:cluster shares a listening
          // socket between workers that listen alike (port 0 included), as long as one holds it.
          port: this.options.config.port,
          tls: { cert: this.options.tls.cert, key: this.options.tls.key },
          rootKey: this.options.rootKey,
          journalId: state.journalId,
          healthy: this.options.store.isHealthy,
          ready: this.readyNow,
        });
        return;
      case 'listening':
        this.options.logger.info({ worker: state.worker.id, workerPid: state.worker.process.pid, port: message.port }, 'worker listening');
        if (this.started && message.port !== this.port) {
          // Only with KEYHOLD_PORT=0, after every worker had exited: the socket was made anew.
          this.options.logger.error({ before: this.port, now: message.port }, 'every worker had exited: the server now listens on another port');
          this.port = message.port;
        }
        state.listeningNow = true;
        state.listened(message.port);
        this.checkHealth();
        return;
      case 'failed':
        state.failed(new StartupError(message.message));
        return;
      case 'call':
        void this.call(state, message);
        return;
      case 'forgotten':
        state.forgets.get(message.id)?.confirm();
        return;
      case 'metrics':
        this.metricsRequests.get(message.id)?.(message.metrics);
        return;
      case 'heartbeat':
        if (message.connections !== undefined) state.connections = message.connections;
        return;
      case 'blocking':
        state.blockingUntil = performance.now() + Math.min(message.ms, BLOCKING_BOUND_MS);
        return;
    }
  }

  stopJournalWriter(journalId: string): void {
    for (const state of this.workers.values()) {
      if (state.journalId !== journalId || state.killed) continue;
      state.killed = true;
      this.options.logger.error({ worker: state.worker.id, workerPid: state.worker.process.pid, journal: journalId }, "a worker's audit journal does not check; killing the worker so that no request goes unaudited");
      state.worker.process.kill('SIGKILL');
    }
  }

  willBlock(ms: number): void {
    for (const state of this.workers.values()) if (state.initialized) this.send(state, { type: 'blocking', ms });
  }

  private async call(state: WorkerState, request: CallRequest): Promise<void> {
    let answer: PrimaryMessage;
    try {
      const value = await this.answer(request);
      answer = { type: 'result', id: request.id, value, healthy: this.options.store.isHealthy };
    } catch (error) {
      if (!(error instanceof KmsError)) {
        this.options.logger.error({ err: error, worker: state.worker.id, call: `${request.target}.${request.method}` }, 'a call from a worker failed');
      }
      answer = { type: 'error', id: request.id, error: toWireError(error), healthy: this.options.store.isHealthy };
    }
    state.outgoing.queue(answer);
  }

  /**
   * Tells every worker that may cache something to forget a change, and resolves once each
   * has confirmed, exited, or been killed for not confirming within PEER_TIMEOUT_MS (see
   * watchWorkers). Never rejects: the change is durable already (see Store.onCommit).
   */
  forget(change: StoreChange): Promise<void> {
    return this.forgetEverywhere(change);
  }

  private async forgetEverywhere(change: StoreChange): Promise<void> {
    const id = ++this.forgetSequence;
    const waiting = [...this.workers.values()].filter((state) => state.initialized);
    await Promise.all(
      waiting.map(
        (state) =>
          new Promise<void>((resolve) => {
            const confirm = () => {
              state.forgets.delete(id);
              resolve();
            };
            state.forgets.set(id, { confirm, since: performance.now() });
            this.send(state, { type: 'forget', id, change });
          }),
      ),
    );
  }

  /**
   * Says this process is alive to every worker, and kills a worker that has been silent (beyond
   * what it said it would block), or has left a change unconfirmed, for PEER_TIMEOUT_MS: SIGKILL
   * ends a stopped process too, its connections are reset, its changes count as confirmed (it
   * caches nothing any more), and `exited` starts another.
   */
  private watchWorkers(now: number): void {
    const serving = [...this.workers.values()].filter((state) => state.listeningNow && !state.killed);
    const fairShare = serving.length === 0 ? undefined : Math.ceil(serving.reduce((sum, state) => sum + state.connections, 0) / serving.length);
    for (const state of this.workers.values()) {
      if (!state.initialized || state.killed) continue;
      state.outgoing.queue(fairShare === undefined ? { type: 'heartbeat' } : { type: 'heartbeat', fairShare });
      const oldestChange = Math.min(...[...state.forgets.values()].map((forget) => forget.since));
      const silentMs = now - state.lastHeard;
      const silenceExpected = silentMs <= PEER_TIMEOUT_MS || now <= state.blockingUntil;
      if (silenceExpected && now - oldestChange <= PEER_TIMEOUT_MS) continue;
      state.killed = true;
      const why = silenceExpected ? 'did not confirm a change' : 'did not answer';
      this.options.logger.error({ worker: state.worker.id, workerPid: state.worker.process.pid, timeoutMs: PEER_TIMEOUT_MS }, `a worker ${why} in time; killing it`);
      state.worker.process.kill('SIGKILL');
    }
  }

  /** This process did not run for a while: the workers' messages wait unread, give them time. */
  private forgiveSilence(now: number): void {
    for (const state of this.workers.values()) {
      state.lastHeard = now;
      for (const forget of state.forgets.values()) forget.since = now;
    }
  }

  private exited(state: WorkerState, code: number | null, signal: string | null): void {
    this.workers.delete(state.worker.id);
    state.listeningNow = false;
    // Nothing writes its journal any more: the rest of it goes into the store, then the file goes.
    if (state.journalId !== undefined && this.options.journals) {
      const journalId = state.journalId;
      this.options.journals.finish(journalId).catch((error: unknown) => this.options.logger.error({ err: error, journal: journalId }, 'the audit journal of a worker that exited could not be moved into the trail; it is moved at the next start'));
    }
    this.checkHealth();
    // It caches nothing any more: changes it had not confirmed are done with.
    for (const forget of [...state.forgets.values()]) forget.confirm();
    // Its last numbers now count among the retired ones, so a scrape waiting for it goes without them.
    if (state.lastMetrics) this.retiredMetrics.push(state.lastMetrics.filter(isMonotonic));
    state.lastMetrics = undefined;
    for (const wait of [...state.metricsWaits]) wait();
    const how = signal ? `signal ${signal}` : `code ${code}`;
    state.failed(new StartupError(`a worker exited (${how}) before it listened`));
    if (this.stopping || !this.started) return;
    const now = Date.now();
    while (this.crashes.length > 0 && now - this.crashes[0]! > CRASH_WINDOW_MS) this.crashes.shift();
    this.crashes.push(now);
    metrics.workerRestarted();
    const delay = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** (this.crashes.length - 1));
    this.options.logger.error({ worker: state.worker.id, workerPid: state.worker.process.pid, exit: how, restartInMs: delay }, 'a worker exited; starting another');
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.stopping) return;
      const replacement = this.fork();
      replacement.listening.catch((error: Error) => this.options.logger.error({ worker: replacement.worker.id, err: error }, 'a restarted worker could not start'));
    }, delay);
    this.restartTimers.add(timer);
  }

  workersListening(): number {
    let count = 0;
    for (const state of this.workers.values()) if (state.listeningNow) count++;
    return count;
  }

  async workerMetrics(): Promise<unknown[][]> {
    const asked = [...this.workers.values()].filter((state) => state.listeningNow);
    const answers = await Promise.all(asked.map((state) => this.askMetrics(state)));
    // Folded into one set now and then, so that a long life of restarts keeps one entry.
    if (this.retiredMetrics.length > 1) this.retiredMetrics = [await summedMetrics(this.retiredMetrics)];
    return [...answers.filter((metrics) => metrics !== undefined), ...this.retiredMetrics];
  }

  /**
   * One worker's metrics: its answer, or, when it does not answer within METRICS_WAIT_MS, what
   * it reported last (so that its counters do not vanish from one scrape); nothing when it exits
   * first (its last numbers are then among the retired ones).
   */
  private askMetrics(state: WorkerState): Promise<unknown[] | undefined> {
    return new Promise((resolve) => {
      const id = ++this.metricsSequence;
      const done = (metrics: unknown[] | undefined) => {
        clearTimeout(timer);
        this.metricsRequests.delete(id);
        state.metricsWaits.delete(late);
        if (metrics !== undefined) state.lastMetrics = metrics;
        resolve(metrics ?? state.lastMetrics);
      };
      const late = () => done(undefined);
      const timer = setTimeout(late, METRICS_WAIT_MS);
      this.metricsRequests.set(id, done);
      state.metricsWaits.add(late);
      this.send(state, { type: 'metrics', id });
    });
  }

  /**
   * Tells the workers when the store's health or the server's readiness changed: ready is the
   * store healthy and every one of KEYHOLD_WORKERS workers listening (a worker that exited makes
   * the server not ready until its replacement listens), never while stopping.
   */
  private checkHealth(): void {
    const healthy = this.options.store.isHealthy;
    const ready = healthy && !this.stopping && this.workersListening() >= this.options.config.workers;
    if (healthy === this.healthy && ready === this.readyNow) return;
    this.healthy = healthy;
    this.readyNow = ready;
    for (const state of this.workers.values()) if (state.initialized) this.send(state, { type: 'health', healthy, ready });
  }

  /** Sends a message now, after the answers queued before it. */
  private send(state: WorkerState, message: PrimaryMessage): void {
    state.outgoing.sendNow(message);
  }
}

/** Counters and histograms only: what a worker that exited still counts for (not its gauges). */
function isMonotonic(metric: unknown): boolean {
  const type = (metric as { type?: unknown }).type;
  return type === 'counter' || type === 'histogram';
}
