/**
 * What Keyhold measures for Prometheus (KEYHOLD_METRICS_ADDR), defined once: each process of a
 * server (the primary and every HTTP worker) keeps its own registry, and the primary sums them
 * when scraped (src/metrics/metrics-server.ts).
 *
 * Off unless KEYHOLD_METRICS_ADDR is set: `metrics` is then NO_METRICS, whose methods do
 * nothing, so the request path pays one empty call per measurement. No label ever carries a key
 * id, an access key id or anything else a caller chooses: actions are the registry's names,
 * outcomes the error table's types, doors and providers fixed words.
 *
 * @example
 *   const started = metrics.requestStarted();
 *   metrics.requestFinished('kms', 'encrypt', 'Success', started);
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Which cache of key material a lookup went to (src/kms/key-registry.ts). */
export type KeyCache = 'key_record' | 'version_key';

export interface Metrics {
  readonly enabled: boolean;
  /** The registry to scrape; undefined when off. */
  readonly registry: Registry | undefined;
  /** A request to an action starts: counts it in flight; returns its start (performance.now()). */
  requestStarted(): number;
  /** A request to an action was answered: `outcome` is `Success` or the error type answered. */
  requestFinished(door: string, action: string, outcome: string, started: number): void;
  /** A request's signature or credential was refused (`type`: the error type answered). */
  authenticationFailed(type: string): void;
  /** A credential's policy (or the admin-only rule) refused an action. */
  policyDenied(action: string): void;
  /** A request's audit records were written, or failed to be (then the request fails closed). */
  auditWritten(started: number, failed: boolean): void;
  keyCacheLookup(cache: KeyCache, hit: boolean): void;
  /** One operation on the store (in the process that owns it). */
  storeOperation(operation: string, started: number): void;
  /** One call to AWS KMS or Google Cloud KMS, and its outcome (`Success` or the error type). */
  providerCall(provider: string, call: string, outcome: string, started: number): void;
  workerRestarted(): void;
}

/** Metrics off: every method returns at once. */
export const NO_METRICS: Metrics = Object.freeze({
  enabled: false,
  registry: undefined,
  requestStarted: () => 0,
  requestFinished: () => {},
  authenticationFailed: () => {},
  policyDenied: () => {},
  auditWritten: () => {},
  keyCacheLookup: () => {},
  storeOperation: () => {},
  providerCall: () => {},
  workerRestarted: () => {},
});

/**
 * This process's metrics: NO_METRICS until enableMetrics() (an ES module live binding, so every
 * importer sees the change).
 */
export let metrics: Metrics = NO_METRICS;

/** Turns this process's metrics on (once; later calls return the same). */
export function enableMetrics(): Metrics {
  if (!metrics.enabled) metrics = new PrometheusMetrics();
  return metrics;
}

/** Request and store latencies: from 0.5 ms (a cached encrypt) to 10 s (a provider's deadline). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A label value from a caller's reach that is not a plain word becomes `other` (a last guard against cardinality). */
const LABEL_WORD = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function labelValue(value: string): string {
  return LABEL_WORD.test(value) ? value : 'other';
}

/**
 * A metric's children by their label values, made once each: prom-client's `labels()` would
 * join and hash the values on every call.
 */
class Children<C> {
  private readonly made = new Map<string, C>();

  constructor(private readonly make: (...values: string[]) => C) {}

  get(first: string, second = '', third = ''): C {
    const key = second === '' ? first : `${first}\u0000${second}\u0000${third}`;
    let child = this.made.get(key);
    if (child === undefined) {
      child = this.make(labelValue(first), ...(second === '' ? [] : [labelValue(second)]), ...(third === '' ? [] : [labelValue(third)]));
      this.made.set(key, child);
    }
    return child;
  }
}

function seconds(started: number): number {
  return (performance.now() - started) / 1000;
}

class PrometheusMetrics implements Metrics {
  readonly enabled = true;
  readonly registry = new Registry();
  private readonly requests: Children<Counter.Internal>;
  private readonly requestDuration: Children<Histogram.Internal<string>>;
  private readonly inFlight: Gauge;
  private readonly authenticationFailures: Children<Counter.Internal>;
  private readonly policyDenials: Children<Counter.Internal>;
  private readonly auditDuration: Histogram;
  private readonly auditFailures: Counter;
  private readonly cacheHits: Children<Counter.Internal>;
  private readonly cacheMisses: Children<Counter.Internal>;
  private readonly storeDuration: Children<Histogram.Internal<string>>;
  private readonly providerCalls: Children<Counter.Internal>;
  private readonly providerDuration: Children<Histogram.Internal<string>>;
  private readonly restarts: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const requests = new Counter({ name: 'keyhold_requests_total', help: 'Action requests answered, by door, action and outcome (Success or the error type).', labelNames: ['door', 'action', 'outcome'], registers });
    this.requests = new Children((door, action, outcome) => requests.labels(door!, action!, outcome!));
    const requestDuration = new Histogram({ name: 'keyhold_request_duration_seconds', help: 'Time from a request to its answer, by action.', labelNames: ['action'], buckets: LATENCY_BUCKETS, registers });
    this.requestDuration = new Children((action) => requestDuration.labels(action!));
    this.inFlight = new Gauge({ name: 'keyhold_requests_in_flight', help: 'Action requests being answered now.', registers });
    const authenticationFailures = new Counter({ name: 'keyhold_authentication_failures_total', help: 'Requests refused at authentication, by error type.', labelNames: ['type'], registers });
    this.authenticationFailures = new Children((type) => authenticationFailures.labels(type!));
    const policyDenials = new Counter({ name: 'keyhold_policy_denials_total', help: 'Requests refused by a credential policy (AccessDeniedException), by action.', labelNames: ['action'], registers });
    this.policyDenials = new Children((action) => policyDenials.labels(action!));
    this.auditDuration = new Histogram({ name: 'keyhold_audit_write_duration_seconds', help: "Time to write a request's audit records.", buckets: LATENCY_BUCKETS, registers });
    this.auditFailures = new Counter({ name: 'keyhold_audit_write_failures_total', help: 'Audit writes that failed (the request then failed closed with 503).', registers });
    const cacheHits = new Counter({ name: 'keyhold_key_cache_hits_total', help: 'Key cache lookups answered from memory, by cache.', labelNames: ['cache'], registers });
    this.cacheHits = new Children((cache) => cacheHits.labels(cache!));
    const cacheMisses = new Counter({ name: 'keyhold_key_cache_misses_total', help: 'Key cache lookups that went to the store, by cache.', labelNames: ['cache'], registers });
    this.cacheMisses = new Children((cache) => cacheMisses.labels(cache!));
    const storeDuration = new Histogram({ name: 'keyhold_store_operation_duration_seconds', help: 'Time of an operation on the store, by operation.', labelNames: ['operation'], buckets: LATENCY_BUCKETS, registers });
    this.storeDuration = new Children((operation) => storeDuration.labels(operation!));
    const providerCalls = new Counter({ name: 'keyhold_provider_calls_total', help: 'Calls to AWS KMS and Google Cloud KMS, by provider, call and outcome.', labelNames: ['provider', 'call', 'outcome'], registers });
    this.providerCalls = new Children((provider, call, outcome) => providerCalls.labels(provider!, call!, outcome!));
    const providerDuration = new Histogram({ name: 'keyhold_provider_call_duration_seconds', help: 'Time of a call to AWS KMS or Google Cloud KMS, retries included, by provider.', labelNames: ['provider'], buckets: LATENCY_BUCKETS, registers });
    this.providerDuration = new Children((provider) => providerDuration.labels(provider!));
    this.restarts = new Counter({ name: 'keyhold_worker_restarts_total', help: 'HTTP workers that exited and were replaced.', registers });
  }

  requestStarted(): number {
    this.inFlight.inc();
    return performance.now();
  }

  requestFinished(door: string, action: string, outcome: string, started: number): void {
    this.inFlight.dec();
    this.requests.get(door, action, outcome).inc();
    this.requestDuration.get(action).observe(seconds(started));
  }

  authenticationFailed(type: string): void {
    this.authenticationFailures.get(type).inc();
  }

  policyDenied(action: string): void {
    this.policyDenials.get(action).inc();
  }

  auditWritten(started: number, failed: boolean): void {
    this.auditDuration.observe(seconds(started));
    if (failed) this.auditFailures.inc();
  }

  keyCacheLookup(cache: KeyCache, hit: boolean): void {
    (hit ? this.cacheHits : this.cacheMisses).get(cache).inc();
  }

  storeOperation(operation: string, started: number): void {
    this.storeDuration.get(operation).observe(seconds(started));
  }

  providerCall(provider: string, call: string, outcome: string, started: number): void {
    this.providerCalls.get(provider, call, outcome).inc();
    this.providerDuration.get(provider).observe(seconds(started));
  }

  workerRestarted(): void {
    this.restarts.inc();
  }
}
