import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { KeyholdConfig } from '../config.js';
import { writeFileDurably } from '../durable-file.js';
import { StartupError } from '../errors.js';
import { certificateSha256, generateSelfSignedCertificate } from './self-signed.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** Hex SHA-256 of the DER certificate: what clients pin. */
  certSha256: string;
  selfSigned: boolean;
}

/**
 * The server's certificate: KEYHOLD_TLS_CERT/KEY, or a self-signed one made once in the
 * data dir (key file 0600) and reused across restarts so that pinned clients keep working.
 */
export async function loadTlsMaterial(config: KeyholdConfig): Promise<TlsMaterial> {
  if (config.tls) {
    const cert = readFileSync(config.tls.certFile, 'utf8');
    const key = readFileSync(config.tls.keyFile, 'utf8');
    let certSha256: string;
    try {
      certSha256 = certificateSha256(cert);
    } catch {
      throw new StartupError('not a PEM certificate', 'KEYHOLD_TLS_CERT');
    }
    return { cert, key, certSha256, selfSigned: false };
  }
  const certFile = path.join(config.dataDir, 'tls-cert.pem');
  const keyFile = path.join(config.dataDir, 'tls-key.pem');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const generated = await generateSelfSignedCertificate({ commonName: 'Keyhold (self-signed)' });
    // Durable: a lost certificate would be replaced by a new one, breaking every pinned client.
    writeFileDurably(keyFile, generated.keyPem);
    writeFileDurably(certFile, generated.certPem, { mode: 0o644 });
  }
  const cert = readFileSync(certFile, 'utf8');
  return { cert, key: readFileSync(keyFile, 'utf8'), certSha256: certificateSha256(cert), selfSigned: true };
}
