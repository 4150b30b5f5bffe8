/**
 * An HTTPS agent that trusts exactly one server certificate, named by the SHA-256 of its
 * DER bytes (admin.credentials `CertSha256`), for self-signed servers.
 *
 * The pin is checked inside createConnection, before the socket is handed to the request:
 * no request byte, header or body, is ever written to an unverified server.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { KeyholdConnectionError } from './errors.js';

const FINGERPRINT_PATTERN = /^[0-9a-f]{64}$/;
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/**
 * Normalises a SHA-256 fingerprint to 64 lower-case hex digits. Accepts upper case and the
 * colon-separated form openssl prints (`AB:CD:…`).
 *
 * @example
 *   normalizeFingerprint('AB:CD:…') // 'abcd…'
 */
export function normalizeFingerprint(fingerprint: string): string {
  const hex = fingerprint.replace(/:/g, '').trim().toLowerCase();
  if (!FINGERPRINT_PATTERN.test(hex)) {
    throw new TypeError('certSha256 must be the 64-hex-digit SHA-256 of the server certificate');
  }
  return hex;
}

export interface PinnedAgentOptions extends https.AgentOptions {
  /** Hex SHA-256 of the server's DER certificate. */
  certSha256: string;
  /** How long the TCP and TLS handshake may take. Default 30 s. */
  connectTimeoutMs?: number;
}

/**
 * @example
 *   const agent = new PinnedAgent({ keepAlive: true, certSha256: credentials.CertSha256 });
 *   https.request({ host: '127.0.0.1', port: 8443, path: '/healthz', agent });
 */
export class PinnedAgent extends https.Agent {
  readonly #pin: Buffer;
  readonly #pinHex: string;
  readonly #connectTimeoutMs: number;

  constructor(options: PinnedAgentOptions) {
    const { certSha256, connectTimeoutMs, ...agentOptions } = options;
    super(agentOptions);
    this.#pinHex = normalizeFingerprint(certSha256);
    this.#pin = Buffer.from(this.#pinHex, 'hex');
    this.#connectTimeoutMs = connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    /* Precondition: the socket is handed over through the callback, only once verified. */
    if (!callback) {
      throw new Error('PinnedAgent.createConnection needs a callback');
    }
    // Chain validation is replaced by the pin; CA-signed or not, only this certificate passes.
    // No session is offered: a resumed session might not present the certificate again.
    const socket = tls.connect({
      ...(options as tls.ConnectionOptions),
      rejectUnauthorized: false,
      session: undefined,
    });

    let settled = false;
    const handOver = (err: Error | null, close: () => void = () => socket.destroy()): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) close();
      callback(err, socket);
    };

    const timer = setTimeout(() => {
      handOver(
        new KeyholdConnectionError(
          `TLS connection to ${describeTarget(options)} timed out after ${this.#connectTimeoutMs} ms`,
          { code: 'ETIMEDOUT' },
        ),
      );
    }, this.#connectTimeoutMs);

    socket.once('secureConnect', () => {
      const mismatch = this.#checkPin(socket);
      handOver(mismatch, () => closeWithoutWriting(socket));
    });
    // Stays attached after the hand-over; later errors also reach the request's own listener.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      handOver(
        new KeyholdConnectionError(`Cannot connect to ${describeTarget(options)}: ${err.message}`, {
          code: err.code,
          cause: err,
        }),
      );
    });
    return undefined;
  }

  /** null when the presented certificate is the pinned one, else the error to report. */
  #checkPin(socket: tls.TLSSocket): KeyholdConnectionError | null {
    const raw = socket.getPeerCertificate()?.raw;
    if (!raw || raw.length === 0) {
      return new KeyholdConnectionError(
        `Server certificate pin mismatch: expected sha256 ${this.#pinHex}, ` +
          'the server presented no certificate',
        { code: 'CERT_PIN_MISMATCH' },
      );
    }
    const presented = createHash('sha256').update(raw).digest();
    if (!timingSafeEqual(presented, this.#pin)) {
      return new KeyholdConnectionError(
        `Server certificate pin mismatch: expected sha256 ${this.#pinHex}, ` +
          `the server presented ${presented.toString('hex')}`,
        { code: 'CERT_PIN_MISMATCH' },
      );
    }
    return null;
  }
}

/**
 * Closes a socket that was never handed to a request: the end of the TLS handshake and a
 * close_notify are flushed, so the server sees a clean close rather than a hang-up; no
 * application byte was ever written to it. Destroyed outright if the flush stalls.
 */
function closeWithoutWriting(socket: tls.TLSSocket): void {
  socket.destroySoon();
  setTimeout(() => socket.destroy(), 1_000).unref();
}

function describeTarget(options: https.RequestOptions): string {
  const host = options.host ?? options.hostname ?? 'localhost';
  return `${host.includes(':') ? `[${host}]` : host}:${options.port ?? 443}`;
}
