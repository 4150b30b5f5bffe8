import { expect } from 'chai';
import { NO_METRICS, prometheusMetrics } from '../../src/metrics/metrics.js';

async function text(metrics: ReturnType<typeof prometheusMetrics>): Promise<string> {
  return metrics.registry!.metrics();
}

describe('metrics (src/metrics/metrics.ts)', () => {
  it('are off by default: NO_METRICS has no registry and measures nothing', () => {
    expect(NO_METRICS.enabled).to.equal(false);
    expect(NO_METRICS.registry).to.equal(undefined);
    expect(NO_METRICS.requestStarted()).to.equal(0);
  });

  it('counts a request by door, action and outcome, times it by action, and counts it in flight until answered', async () => {
    const metrics = prometheusMetrics();
    const started = metrics.requestStarted();
    expect(await text(metrics)).to.match(/^keyhold_requests_in_flight 1$/m);
    metrics.requestFinished('kms', 'encrypt', 'Success', started);
    metrics.requestFinished('aws', 'encrypt', 'AccessDeniedException', metrics.requestStarted());
    const scraped = await text(metrics);
    expect(scraped).to.match(/^keyhold_requests_in_flight 0$/m);
    expect(scraped).to.match(/^keyhold_requests_total\{door="kms",action="encrypt",outcome="Success"\} 1$/m);
    expect(scraped).to.match(/^keyhold_requests_total\{door="aws",action="encrypt",outcome="AccessDeniedException"\} 1$/m);
    expect(scraped).to.match(/^keyhold_request_duration_seconds_count\{action="encrypt"\} 2$/m);
    expect(scraped).to.match(/^process_cpu_seconds_total /m);
  });

  it('counts a label value that is not a plain word as "other", so no caller-chosen text becomes a label', async () => {
    const metrics = prometheusMetrics();
    metrics.authenticationFailed('Unrecognized"Client\nException');
    metrics.policyDenied('x'.repeat(65));
    metrics.providerCall('aws_kms', 'sign', '1234abcd-12ab-34cd-56ef-1234567890ab', performance.now());
    const scraped = await text(metrics);
    expect(scraped).to.match(/^keyhold_authentication_failures_total\{type="other"\} 1$/m);
    expect(scraped).to.match(/^keyhold_policy_denials_total\{action="other"\} 1$/m);
    expect(scraped).to.match(/^keyhold_provider_calls_total\{provider="aws_kms",call="sign",outcome="other"\} 1$/m);
  });

  it('counts key cache hits and misses, audit writes and their failures, store operations and worker restarts', async () => {
    const metrics = prometheusMetrics();
    metrics.keyCacheLookup('key_record', true);
    metrics.keyCacheLookup('key_record', true);
    metrics.keyCacheLookup('version_key', false);
    metrics.auditWritten(performance.now(), false);
    metrics.auditWritten(performance.now(), true);
    metrics.storeOperation('getKey', performance.now());
    metrics.workerRestarted();
    const scraped = await text(metrics);
    expect(scraped).to.match(/^keyhold_key_cache_hits_total\{cache="key_record"\} 2$/m);
    expect(scraped).to.match(/^keyhold_key_cache_misses_total\{cache="version_key"\} 1$/m);
    expect(scraped).to.match(/^keyhold_audit_write_duration_seconds_count 2$/m);
    expect(scraped).to.match(/^keyhold_audit_write_failures_total 1$/m);
    expect(scraped).to.match(/^keyhold_store_operation_duration_seconds_count\{operation="getKey"\} 1$/m);
    expect(scraped).to.match(/^keyhold_worker_restarts_total 1$/m);
  });
});
