/**
 * The self-signed TLS certificate the server makes when no KEYHOLD_TLS_CERT is configured.
 * Clients pin its SHA-256 fingerprint (admin.credentials `CertSha256`) instead of trusting a CA.
 */
import 'reflect-metadata';
import {
  X509Certificate as NodeX509Certificate,
  createHash,
  KeyObject,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

export const DEFAULT_ALT_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];
export const DEFAULT_VALIDITY_DAYS = 825;

export interface SelfSignedOptions {
  /** Subject CN; default `keyhold`. */
  commonName?: string;
  /** DNS names and IP addresses for subjectAltName; default localhost, 127.0.0.1, ::1. */
  altNames?: string[];
  /** Validity in days; default 825 (the longest a browser still accepts for a server certificate). */
  days?: number;
}

export interface SelfSignedCertificate {
  certPem: string;
  /** PKCS#8 PEM of the ECDSA P-256 private key. */
  keyPem: string;
  certDer: Buffer;
  /** Lower-case hex SHA-256 of `certDer`: the pin clients compare against. */
  sha256: string;
}

// A few minutes of back-dating so a client whose clock is slightly behind accepts the cert.
const NOT_BEFORE_BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Makes an ECDSA P-256 self-signed server certificate (serverAuth, not a CA).
 *
 * @example
 *   const { certPem, keyPem, sha256 } = await generateSelfSignedCertificate({ altNames: ['kms.internal'] });
 *   https.createServer({ cert: certPem, key: keyPem }, app);
 */
export async function generateSelfSignedCertificate(
  opts: SelfSignedOptions = {},
): Promise<SelfSignedCertificate> {
  const commonName = opts.commonName ?? 'keyhold';
  const altNames = opts.altNames ?? [...DEFAULT_ALT_NAMES];
  const days = opts.days ?? DEFAULT_VALIDITY_DAYS;
  /* Precondition: validity is a positive whole number of days. */
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError('Certificate validity must be a positive whole number of days');
  }
  /* Precondition: there is at least one subjectAltName; clients match names against it, not CN. */
  if (altNames.length === 0 || altNames.some((name) => name.length === 0)) {
    throw new RangeError('A certificate needs at least one non-empty subjectAltName');
  }

  // Node's WebCrypto is passed explicitly rather than set globally: other code may install
  // its own @peculiar/x509 crypto provider (e.g. one that signs with a KMS key).
  const crypto = webcrypto as unknown as Crypto;
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;

  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: positiveSerialNumber(),
      // A JSON name, not an RFC 2253 string, so a CN containing ',' or '=' cannot inject attributes.
      name: [{ CN: [commonName] }],
      notBefore: new Date(now - NOT_BEFORE_BACKDATE_MS),
      notAfter: new Date(now + days * DAY_MS),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          altNames.map((name): x509.JsonGeneralName => ({ type: isIP(name) ? 'ip' : 'dns', value: name })),
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  const certDer = Buffer.from(certificate.rawData);
  const keyPem = KeyObject.from(keys.privateKey as webcrypto.CryptoKey)
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  return {
    certPem: certificate.toString('pem'),
    keyPem,
    certDer,
    sha256: createHash('sha256').update(certDer).digest('hex'),
  };
}

/**
 * Lower-case hex SHA-256 of a PEM certificate's DER bytes: the form `CertSha256` takes.
 *
 * @example
 *   certificateSha256(fs.readFileSync('server.crt', 'utf8')) // '3f1c…'
 */
export function certificateSha256(certPem: string): string {
  const certificate = new NodeX509Certificate(certPem);
  return createHash('sha256').update(certificate.raw).digest('hex');
}

/** 16 random bytes with the top bit clear, so the DER INTEGER is positive (RFC 5280 §4.1.2.2). */
function positiveSerialNumber(): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial.toString('hex');
}
