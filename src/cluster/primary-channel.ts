import { ServiceUnavailableException } from '../errors.js';
import type { StoreChange } from '../store/store.js';
import { BLOCKING_BOUND_MS, PEER_TIMEOUT_MS, startWatchdog } from './heartbeat.js';
import { MessageBatcher, type Sent } from './message-batcher.js';
import { fromWireError, type CallTarget, type PrimaryMessage, type WorkerInit, type WorkerMessage } from './protocol.js';

/** The worker's end of the IPC channel: `process` in a cluster worker, a stand-in in tests. */
export interface WorkerPort {
  send(message: WorkerMessage, sendHandle?: undefined, options?: object, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: PrimaryMessage) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  readonly connected: boolean;
}

export interface PrimaryChannelHandlers {
  /** Drop what is cached of a change; the primary waits for this before it answers its caller. */
  forget(change: StoreChange): Promise<void> | void;
  shutdown(): void;
  /** The primary is gone: stop. */
  disconnected(): void;
  /** Forgetting a change failed: this worker may hold stale state and must stop at once. */
  failed(error: unknown): void;
  /** The primary has been silent for PEER_TIMEOUT_MS (true), or is heard again (false). */
  primaryHung?(hung: boolean): void;
  /** This process's metrics for a scrape (prom-client's getMetricsAsJSON); none when metrics are off. */
  metrics?(): Promise<unknown[]>;
}

/**
 * A worker's connection to the primary: calls with answers (store reads, forwarded changes),
 * the primary's view of the store's health, and its instructions (forget, shut down).
 */
export class PrimaryChannel {
  private nextId = 1;
  private readonly calls = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();
  private handlers: PrimaryChannelHandlers | undefined;
  private initReceived: ((init: WorkerInit | undefined) => void) | undefined;
  private storeHealthy = true;
  private serverReady = false;
  /** When the primary was last heard from (performance.now()), and whether that is too long ago. */
  private lastHeard = performance.now();
  /** Until when (performance.now()) the primary's silence is expected: it said it would block. */
  private primaryBlockingUntil = 0;
  private hung = false;
  /** The fair share of connections the primary last sent (src/cluster/connection-balance.ts). */
  private lastFairShare: number | undefined;
  /** This worker's open API connections, sent with its heartbeats once it listens. */
  connections: (() => number) | undefined;
  private stopWatching: (() => void) | undefined;
  private readonly outgoing: MessageBatcher<WorkerMessage>;

  constructor(private readonly port: WorkerPort) {
    this.outgoing = new MessageBatcher((message, sent) => port.send(message, undefined, {}, sent));
    port.on('message', (message) => this.receive(message));
    port.on('disconnect', () => this.disconnect());
  }

  /**
   * Tells the primary this worker listens for messages, and waits for what it needs to
   * serve; undefined when the primary is stopping and the worker must exit instead.
   */
  init(): Promise<WorkerInit | undefined> {
    return new Promise((resolve) => {
      this.initReceived = resolve;
      this.send({ type: 'ready' });
    });
  }

  handle(handlers: PrimaryChannelHandlers): void {
    this.handlers = handlers;
  }

  /** The fair share of connections per worker, while the primary answers (else none: nothing is shed). */
  get fairShare(): number | undefined {
    return this.port.connected && !this.hung ? this.lastFairShare : undefined;
  }

  /** Whether the primary is there, answering, and its store is open: false means answer 503. */
  get healthy(): boolean {
    return this.port.connected && !this.hung && this.storeHealthy;
  }

  /**
   * Whether the server is ready to serve (/readyz): healthy, and the primary says its store is
   * healthy and every worker listens.
   */
  get ready(): boolean {
    return this.healthy && this.serverReady;
  }

  /**
   * Starts the heartbeats both ways (src/cluster/heartbeat.ts): this worker says it is alive,
   * and treats a primary silent for PEER_TIMEOUT_MS as hung until it is heard again: its calls
   * fail at once with 503, and so do the ones waiting for it (their work may still complete).
   */
  watchPrimary(): void {
    this.stopWatching ??= startWatchdog(
      (now) => {
        // Not to a hung primary: they would pile up unread in the channel. The primary's own
        // next heartbeat, once it runs again, starts them again.
        if (!this.hung) this.outgoing.queue(this.connections === undefined ? { type: 'heartbeat' } : { type: 'heartbeat', connections: this.connections() });
        if (!this.hung && now - this.lastHeard > PEER_TIMEOUT_MS && now > this.primaryBlockingUntil) this.primaryStoppedAnswering();
      },
      (now) => {
        this.lastHeard = now;
      },
    );
  }

  /**
   * Why a write that needs the primary and its store soon (an audit record in this worker's
   * journal, which the primary moves into the store) is refused now, if it is: the primary is
   * gone, silent, or says its store cannot write. Such a request fails as it would if its
   * record went to the primary.
   */
  refusal(): Error | undefined {
    if (!this.port.connected || !this.storeHealthy) return unavailable();
    if (this.hung) return primaryHung();
    return undefined;
  }

  /**
   * Runs `target.method(...args)` in the primary; its KmsErrors come back as KmsErrors. The
   * calls made during one turn of the event loop travel as one message.
   */
  call(target: CallTarget, method: string, args: unknown[]): Promise<unknown> {
    if (!this.port.connected) return Promise.reject(unavailable());
    if (this.hung) return Promise.reject(primaryHung());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.outgoing.queue({ type: 'call', id, target, method, args }, (error) => {
        if (error && this.calls.delete(id)) reject(unavailable());
      });
    });
  }

  /**
   * Tells the primary, now, that this worker may not run for up to `ms` (it loads a cloud SDK):
   * it waits that long before it takes the silence for a hang and replaces this worker.
   */
  willBlock(ms: number): void {
    this.send({ type: 'blocking', ms });
  }

  /**
   * Sends a message now (after the calls queued before it); `sent` is told when it has been
   * written, or why it could not be (a closed channel, and then 'disconnect' follows and
   * stops the worker).
   */
  send(message: WorkerMessage, sent?: Sent): void {
    this.outgoing.sendNow(message, sent);
  }

  private receive(message: PrimaryMessage): void {
    this.lastHeard = performance.now();
    if (this.hung) {
      this.hung = false;
      this.handlers?.primaryHung?.(false);
    }
    switch (message.type) {
      case 'batch':
        for (const each of message.messages) this.receive(each);
        return;
      case 'init':
        this.storeHealthy = message.healthy;
        this.serverReady = message.ready;
        this.initReceived?.(message);
        this.initReceived = undefined;
        return;
      case 'result':
      case 'error': {
        // The answer says how the store was when it was made: a failed read of a closed
        // store must find the worker already unhealthy, so that it answers 503.
        this.storeHealthy = message.healthy;
        const call = this.calls.get(message.id);
        if (!call) return;
        this.calls.delete(message.id);
        if (message.type === 'result') call.resolve(message.value);
        else call.reject(fromWireError(message.error));
        return;
      }
      case 'forget':
        void this.forget(message.id, message.change);
        return;
      case 'health':
        this.storeHealthy = message.healthy;
        this.serverReady = message.ready;
        return;
      case 'metrics':
        void this.sendMetrics(message.id);
        return;
      case 'heartbeat':
        this.lastFairShare = message.fairShare;
        return;
      case 'blocking':
        this.primaryBlockingUntil = performance.now() + Math.min(message.ms, BLOCKING_BOUND_MS);
        return;
      case 'shutdown':
        if (this.initReceived) {
          this.initReceived(undefined);
          this.initReceived = undefined;
        }
        this.handlers?.shutdown();
        return;
    }
  }

  private async forget(id: number, change: StoreChange): Promise<void> {
    try {
      await this.handlers?.forget(change);
    } catch (error) {
      // Not answered: a worker that may hold stale state must stop serving. The primary
      // stops waiting for it when it exits, and starts another.
      this.handlers?.failed(error);
      return;
    }
    this.send({ type: 'forgotten', id });
  }

  /** Answers a scrape's request: no metrics (an empty list) when they are off or fail here. */
  private async sendMetrics(id: number): Promise<void> {
    const metrics = await (this.handlers?.metrics?.() ?? Promise.resolve([])).catch(() => []);
    this.outgoing.queue({ type: 'metrics', id, metrics });
  }

  private primaryStoppedAnswering(): void {
    this.hung = true;
    this.failCalls(primaryHung());
    this.handlers?.primaryHung?.(true);
  }

  private disconnect(): void {
    this.stopWatching?.();
    this.failCalls(unavailable());
    this.handlers?.disconnected();
  }

  private failCalls(error: Error): void {
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
  }
}

function unavailable() {
  return new ServiceUnavailableException('The key store is not available');
}

function primaryHung() {
  return new ServiceUnavailableException(`The primary process did not answer within ${PEER_TIMEOUT_MS} ms`);
}
