import { isIP } from 'node:net';
import type { ClientOptions } from 'google-gax';
import { grpc } from 'google-gax';
import { StartupError } from '../../../errors.js';
import { isLoopbackHost } from '../../../runtime/loopback.js';

export { isLoopbackHost };

/** Where the Google Cloud KMS client connects: KEYHOLD_GCP_KMS_ENDPOINT as host and port. */
export interface GcpEndpoint {
  host: string;
  port: number;
}

const ENDPOINT_VARIABLE = 'KEYHOLD_GCP_KMS_ENDPOINT';
const DEFAULT_PORT = 443;

/**
 * Parses `host:port`, `[ipv6]:port` or a bare host (port 443).
 *
 * @example
 *   parseGcpEndpoint('127.0.0.1:8443') // { host: '127.0.0.1', port: 8443 }
 */
export function parseGcpEndpoint(endpoint: string): GcpEndpoint {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::([0-9]{1,5}))?$/.exec(endpoint.trim());
  /* Precondition: the endpoint is host[:port] with no scheme or path. */
  if (!match) throw new StartupError('must be host:port (no scheme, no path)', ENDPOINT_VARIABLE);
  const host = match[1] ?? match[2]!;
  const port = match[3] === undefined ? DEFAULT_PORT : Number(match[3]);
  /* Precondition: the port is 1..65535. */
  if (port < 1 || port > 65535) throw new StartupError('port must be 1..65535', ENDPOINT_VARIABLE);
  /* Precondition: a bracketed host is an IPv6 address. */
  if (match[1] !== undefined && isIP(host) !== 6) throw new StartupError('bracketed host must be an IPv6 address', ENDPOINT_VARIABLE);
  return { host, port };
}

/**
 * The KeyManagementServiceClient options for an endpoint.
 *
 * - none: Google's endpoint, TLS, Application Default Credentials.
 * - a loopback host (an emulator or a test fake): plaintext and no Google credentials, so
 *   nothing asks the metadata server. `grpc` comes from google-gax so that the credentials
 *   object is one its own grpc-js copy recognises.
 * - any other host: TLS and Application Default Credentials.
 *
 * The port goes in `port`: with `apiEndpoint: 'host:port'` the client never connects.
 */
export function gcpClientOptions(endpoint: string | undefined): { options: ClientOptions; insecurePlaintext: boolean } {
  if (endpoint === undefined || endpoint.trim() === '') return { options: {}, insecurePlaintext: false };
  const { host, port } = parseGcpEndpoint(endpoint);
  const apiEndpoint = isIP(host) === 6 ? `[${host}]` : host;
  if (isLoopbackHost(host)) {
    return {
      options: { apiEndpoint, port, sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' },
      insecurePlaintext: true,
    };
  }
  return { options: { apiEndpoint, port }, insecurePlaintext: false };
}
