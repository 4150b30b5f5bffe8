/**
 * The metrics listener (KEYHOLD_METRICS_ADDR): plain HTTP, `GET /metrics` in Prometheus's text
 * format, nothing else. Run by the primary process (the one that owns the store), apart from the
 * API port: it needs no credential and no TLS, so it belongs on loopback or a monitoring network,
 * and a scrape never competes with the API's connection limits.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { StartupError } from '../errors.js';

export interface MetricsAddress {
  host: string;
  port: number;
}

export interface MetricsServer {
  /** The port it listens on (the real one when 0 was asked for). */
  port: number;
  close(): Promise<void>;
}

/** What a scrape answers: the text and its content type. */
export type MetricsSource = () => Promise<{ text: string; contentType: string }>;

/** The workers of a cluster, each asked for its metrics (getMetricsAsJSON) when scraped. */
export interface WorkerMetrics {
  workerMetrics(): Promise<unknown[][]>;
}

/**
 * A scrape's answer: this process's registry, summed with every listening worker's (each
 * metric by its own aggregator: sums for Keyhold's, averages for event-loop lag, …).
 */
export function scrapeOf(registry: Registry, workers: () => WorkerMetrics | undefined): MetricsSource {
  return async () => {
    const cluster = workers();
    const all = cluster ? AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), ...(await cluster.workerMetrics())]) : registry;
    return { text: await all.metrics(), contentType: all.contentType };
  };
}

/** Several processes' metrics (getMetricsAsJSON) summed into one set, each metric by its own aggregator. */
export async function summedMetrics(sets: unknown[][]): Promise<unknown[]> {
  return AggregatorRegistry.aggregate(sets as Parameters<typeof AggregatorRegistry.aggregate>[0]).getMetricsAsJSON();
}

/**
 * Listens on `address` and answers `GET /metrics` with what `source` gives; 404 for anything
 * else, 405 for another method on /metrics, 500 (no detail) when collecting fails.
 *
 * @example
 *   const server = await startMetricsServer({ host: '127.0.0.1', port: 9464 }, source, logger);
 */
export async function startMetricsServer(address: MetricsAddress, source: MetricsSource, onError: (error: unknown) => void): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return plain(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed\n');
    source().then(
      ({ text, contentType }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        onError(error);
        plain(res, 500, 'metrics could not be collected\n');
      },
    );
  });
  // A scrape is small and quick: a slow or idle client is not kept.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 64;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${address.host}:${address.port}`;
      if (error.code === 'EADDRINUSE') reject(new StartupError(`${where} is already in use`, 'KEYHOLD_METRICS_ADDR'));
      else if (error.code === 'EACCES') reject(new StartupError(`no permission to listen on ${where}`, 'KEYHOLD_METRICS_ADDR'));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new StartupError(`cannot listen on ${address.host}: no such local address`, 'KEYHOLD_METRICS_ADDR'));
      else reject(error);
    });
    server.listen(address.port, address.host, () => resolve((server.address() as AddressInfo).port));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}
