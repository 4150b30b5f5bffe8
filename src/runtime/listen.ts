import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KeyholdConfig } from '../config.js';
import { StartupError } from '../errors.js';

/** How long shutdown waits for in-flight requests before closing their connections. */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Listens on KEYHOLD_HOST:KEYHOLD_PORT and resolves with the port (the real one when the
 * configured port is 0). The usual failures are StartupErrors naming the setting at fault.
 * In a cluster worker, node:cluster shares the one listening socket of the primary.
 */
export function listen(server: https.Server, config: Pick<KeyholdConfig, 'host' | 'port'>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new StartupError(`port ${config.port} on ${config.host} is already in use`, 'KEYHOLD_PORT'));
      } else if (error.code === 'EACCES') {
        reject(new StartupError(`no permission to listen on port ${config.port}`, 'KEYHOLD_PORT'));
      } else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
        reject(new StartupError(`cannot listen on ${config.host}: no such local address`, 'KEYHOLD_HOST'));
      } else {
        reject(error);
      }
    });
    server.listen(config.port, config.host, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes what is
 * left. Idle keep-alive connections are closed at once.
 */
export async function closeGracefully(server: https.Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}

/** The host part of the URL clients use: a wildcard address is reached on loopback. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
