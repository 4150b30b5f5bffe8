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
import { collectDefaultMetrics, Registry } from 'prom-client';
import { HistogramTally, Tally, type CounterSeries } from './tallies.js';

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
  if (!metrics.enabled) metrics = prometheusMetrics();
  return metrics;
}

/** A new set of metrics with a registry of its own, with the process metrics (what enableMetrics installs). */
export function prometheusMetrics(): Metrics {
  return new PrometheusMetrics();
}

/** Request and store latencies: from 0.5 ms (a cached encrypt) to 10 s (a provider's deadline). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function seconds(started: number): number {
  return (performance.now() - started) / 1000;
}

class PrometheusMetrics implements Metrics {
  readonly enabled = true;
  readonly registry = new Registry();
  private readonly requests: Tally;
  private readonly requestDuration: HistogramTally;
  private readonly inFlight: CounterSeries;
  private readonly authenticationFailures: Tally;
  private readonly policyDenials: Tally;
  private readonly auditDuration: HistogramTally;
  private readonly auditFailures: CounterSeries;
  private readonly cacheHits: Tally;
  private readonly cacheMisses: Tally;
  private readonly storeDuration: HistogramTally;
  private readonly providerCalls: Tally;
  private readonly providerDuration: HistogramTally;
  private readonly restarts: CounterSeries;

  constructor() {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry });
    this.requests = new Tally(registry, { name: 'keyhold_requests_total', help: 'Action requests answered, by door, action and outcome (Success or the error type).', labelNames: ['door', 'action', 'outcome'] });
    this.requestDuration = new HistogramTally(registry, { name: 'keyhold_request_duration_seconds', help: 'Time from a request to its answer, by action.', labelNames: ['action'], buckets: LATENCY_BUCKETS });
    this.inFlight = new Tally(registry, { name: 'keyhold_requests_in_flight', help: 'Action requests being answered now.' }, 'gauge').labels();
    this.authenticationFailures = new Tally(registry, { name: 'keyhold_authentication_failures_total', help: 'Requests refused at authentication, by error type.', labelNames: ['type'] });
    this.policyDenials = new Tally(registry, { name: 'keyhold_policy_denials_total', help: 'Requests refused by a credential policy (AccessDeniedException), by action.', labelNames: ['action'] });
    this.auditDuration = new HistogramTally(registry, { name: 'keyhold_audit_write_duration_seconds', help: "Time to write a request's audit records.", buckets: LATENCY_BUCKETS });
    this.auditFailures = new Tally(registry, { name: 'keyhold_audit_write_failures_total', help: 'Audit writes that failed (the request then failed closed with 503).' }).labels();
    this.cacheHits = new Tally(registry, { name: 'keyhold_key_cache_hits_total', help: 'Key cache lookups answered from memory, by cache.', labelNames: ['cache'] });
    this.cacheMisses = new Tally(registry, { name: 'keyhold_key_cache_misses_total', help: 'Key cache lookups that went to the store, by cache.', labelNames: ['cache'] });
    this.storeDuration = new HistogramTally(registry, { name: 'keyhold_store_operation_duration_seconds', help: 'Time of an operation on the store, by operation.', labelNames: ['operation'], buckets: LATENCY_BUCKETS });
    this.providerCalls = new Tally(registry, { name: 'keyhold_provider_calls_total', help: 'Calls to AWS KMS and Google Cloud KMS, by provider, call and outcome.', labelNames: ['provider', 'call', 'outcome'] });
    this.providerDuration = new HistogramTally(registry, { name: 'keyhold_provider_call_duration_seconds', help: 'Time of a call to AWS KMS or Google Cloud KMS, retries included, by provider.', labelNames: ['provider'], buckets: LATENCY_BUCKETS });
    this.restarts = new Tally(registry, { name: 'keyhold_worker_restarts_total', help: 'HTTP workers that exited and were replaced.' }).labels();
  }

  requestStarted(): number {
    this.inFlight.value++;
    return performance.now();
  }

  requestFinished(door: string, action: string, outcome: string, started: number): void {
    this.inFlight.value--;
    this.requests.labels(door, action, outcome).value++;
    this.requestDuration.observe(this.requestDuration.labels(action), seconds(started));
  }

  authenticationFailed(type: string): void {
    this.authenticationFailures.labels(type).value++;
  }

  policyDenied(action: string): void {
    this.policyDenials.labels(action).value++;
  }

  auditWritten(started: number, failed: boolean): void {
    this.auditDuration.observe(this.auditDuration.labels(), seconds(started));
    if (failed) this.auditFailures.value++;
  }

  keyCacheLookup(cache: KeyCache, hit: boolean): void {
    (hit ? this.cacheHits : this.cacheMisses).labels(cache).value++;
  }

  storeOperation(operation: string, started: number): void {
    this.storeDuration.observe(this.storeDuration.labels(operation), seconds(started));
  }

  providerCall(provider: string, call: string, outcome: string, started: number): void {
    this.providerCalls.labels(provider, call, outcome).value++;
    this.providerDuration.observe(this.providerDuration.labels(provider), seconds(started));
  }

  workerRestarted(): void {
    this.restarts.value++;
  }
}
