import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { KeyholdConfig } from '../config.js';
import { KmsError, StartupError } from '../errors.js';
import type { KeyService } from '../kms/key-service.js';
import { SHUTDOWN_GRACE_MS } from '../server/listen.js';
import type { TlsMaterial } from '../server/tls.js';
import type { SnapshotSource } from '../store/snapshots.js';
import type { Store, StoreChange } from '../store/store.js';
import { createCallHandler } from './calls.js';
import { MessageBatcher } from './message-batcher.js';
import { toWireError, workerConfig, type CallRequest, type PrimaryMessage, type WorkerMessage } from './protocol.js';

// The worker program sits next to this file, as .ts under tsx and as .js once compiled.
const WORKER_PROGRAM = fileURLToPath(new URL(`./worker-main${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** A worker that has not confirmed a change by then is killed: it must not serve stale keys. */
const FORGET_TIMEOUT_MS = 15_000;
/** How often the primary looks at its store's health, to tell the workers of a change. */
const HEALTH_INTERVAL_MS = 1_000;
/** Workers get the shutdown grace, and this much more, before they are killed. */
const STOP_MARGIN_MS = 5_000;
/** Restart delays grow with the crashes of the last minute: 100 ms, 200 ms, … up to 30 s. */
const RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 30_000;
const CRASH_WINDOW_MS = 60_000;

/**
 * Secrets a worker has no use for (it receives the unwrapped root key and its settings over
 * IPC): emptied in its environment, which it would otherwise inherit.
 */
const EMPTIED_IN_WORKERS = {
  KEYHOLD_PASSPHRASE: '',
  KEYHOLD_PKCS11_PIN: '',
  KEYHOLD_GOKMS_AUTH_KEY: '',
  KEYHOLD_NEW_PASSPHRASE: '',
  KEYHOLD_NEW_PKCS11_PIN: '',
};

/**
 * V8's young generation (where every request's short-lived objects go) grows under load to
 * 2 × 16 MB of semi-spaces per process. Capped at 2 × 4 MB, a worker under full load holds
 * 35-45 MB less for about 5 % more CPU per request (bench/RESULTS.md, issue 7).
 */
const WORKER_SEMI_SPACE_MB = 4;

/**
 * The node flags of a worker: the primary's own, plus the young generation's cap unless the
 * operator chose one (in the primary's flags or NODE_OPTIONS, which workers inherit).
 */
export function workerExecArgv(primaryFlags: readonly string[], nodeOptions: string | undefined): string[] {
  const chosen = [...primaryFlags, ...(nodeOptions ?? '').split(/\s+/)].some((flag) => /^--max[-_]semi[-_]space[-_]size\b/.test(flag));
  return chosen ? [...primaryFlags] : [...primaryFlags, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
}

export interface ClusterOptions {
  config: KeyholdConfig;
  logger: Logger;
  /** The store this process owns; workers read it through this process. */
  store: Store;
  /** This process's KeyService: it runs every change a worker forwards. */
  keyService: KeyService;
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
}

interface WorkerState {
  worker: Worker;
  /** Whether it has been sent the init message (from then on it caches, and must be told of changes). */
  initialized: boolean;
  listening: Promise<number>;
  listened(port: number): void;
  failed(error: Error): void;
  /** Changes sent to it and not yet confirmed, by id. */
  forgets: Map<number, () => void>;
  /** Its side of the channel: answers to its calls go out once per turn of the event loop. */
  outgoing: MessageBatcher<PrimaryMessage>;
  exited: Promise<void>;
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
  private healthy: boolean;
  private started = false;
  private stopping = false;
  private forgetSequence = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ClusterOptions) {
    this.port = options.config.port;
    this.answer = createCallHandler(options.keyService, options.store, options.snapshots);
    this.healthy = options.store.isHealthy;
  }

  async start(): Promise<void> {
    const { config, store, logger } = this.options;
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
    logger.info({ workers: config.workers }, 'every worker is listening');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping = true;
      clearInterval(this.healthTimer);
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
    const state: WorkerState = { worker, initialized: false, listening, listened, failed, forgets: new Map(), outgoing, exited };
    this.workers.set(worker.id, state);
    worker.on('message', (message: WorkerMessage) => this.receive(state, message));
    worker.on('exit', (code, signal) => this.exited(state, code, signal));
    // Sending to a worker that is going away fails; its 'exit' does the cleaning up.
    worker.on('error', () => {});
    return state;
  }

  private receive(state: WorkerState, message: WorkerMessage): void {
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
        this.send(state, {
          type: 'init',
          config: workerConfig(this.options.config),
          // The configured port, also for a restarted worker: node:cluster shares a listening
          // socket between workers that listen alike (port 0 included), as long as one holds it.
          port: this.options.config.port,
          tls: { cert: this.options.tls.cert, key: this.options.tls.key },
          rootKey: this.options.rootKey,
          healthy: this.options.store.isHealthy,
        });
        return;
      case 'listening':
        this.options.logger.info({ worker: state.worker.id, workerPid: state.worker.process.pid, port: message.port }, 'worker listening');
        if (this.started && message.port !== this.port) {
          // Only with KEYHOLD_PORT=0, after every worker had exited: the socket was made anew.
          this.options.logger.error({ before: this.port, now: message.port }, 'every worker had exited: the server now listens on another port');
          this.port = message.port;
        }
        state.listened(message.port);
        return;
      case 'failed':
        state.failed(new StartupError(message.message));
        return;
      case 'call':
        void this.call(state, message);
        return;
      case 'forgotten':
        state.forgets.get(message.id)?.();
        return;
    }
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
   * has confirmed, exited, or been killed for not confirming in time. Never rejects: the
   * change is durable already (see Store.onCommit).
   */
  private async forgetEverywhere(change: StoreChange): Promise<void> {
    const id = ++this.forgetSequence;
    const waiting = [...this.workers.values()].filter((state) => state.initialized);
    await Promise.all(
      waiting.map(
        (state) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              this.options.logger.error({ worker: state.worker.id }, `a worker did not confirm a change within ${FORGET_TIMEOUT_MS} ms; stopping it`);
              state.worker.process.kill('SIGKILL');
            }, FORGET_TIMEOUT_MS);
            state.forgets.set(id, () => {
              clearTimeout(timer);
              state.forgets.delete(id);
              resolve();
            });
            this.send(state, { type: 'forget', id, change });
          }),
      ),
    );
  }

  private exited(state: WorkerState, code: number | null, signal: string | null): void {
    this.workers.delete(state.worker.id);
    // It caches nothing any more: changes it had not confirmed are done with.
    for (const confirm of [...state.forgets.values()]) confirm();
    const how = signal ? `signal ${signal}` : `code ${code}`;
    state.failed(new StartupError(`a worker exited (${how}) before it listened`));
    if (this.stopping || !this.started) return;
    const now = Date.now();
    while (this.crashes.length > 0 && now - this.crashes[0]! > CRASH_WINDOW_MS) this.crashes.shift();
    this.crashes.push(now);
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

  private checkHealth(): void {
    const healthy = this.options.store.isHealthy;
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    for (const state of this.workers.values()) if (state.initialized) this.send(state, { type: 'health', healthy });
  }

  /** Sends a message now, after the answers queued before it. */
  private send(state: WorkerState, message: PrimaryMessage): void {
    state.outgoing.sendNow(message);
  }
}
