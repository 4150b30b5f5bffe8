/**
 * `keyhold csr` and `keyhold cert self-signed|sign`: X.509 made with @peculiar/x509, signed by a
 * KMS key whose private half never leaves the server. @peculiar/x509 signs through WebCrypto's
 * `subtle.sign`; we hand it a WebCrypto that is node's in everything but `sign`, which hashes
 * locally and asks Keyhold to sign the digest. @peculiar/x509 (and reflect-metadata, which it
 * needs first) are loaded only when one of these commands runs, so other commands stay fast.
 */
import { createHash, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command } from 'commander';
import type * as X509 from '@peculiar/x509';
import { KeyholdApiError, KeyholdClient, type GetPublicKeyResult } from '../../src/client/index.js';
import { digestLength, eccCurve, signingHash, type SigningAlgorithm } from '../../src/crypto/asymmetric-algorithms.js';
import { connectionOptions, globalOptions, positiveInteger, withClient, writeOutput, type GlobalOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { chooseSigningAlgorithm, parseSigningAlgorithm } from './asymmetric.js';

type X509Module = typeof X509;

async function loadX509(): Promise<X509Module> {
  // @peculiar/x509's dependency container (tsyringe) needs the Reflect polyfill loaded first.
  await import('reflect-metadata');
  return import('@peculiar/x509');
}

/** Certificates start five minutes in the past, so a verifier whose clock is a little behind accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A stand-in for a WebCrypto private key: it names the KMS key and how it signs. */
class KmsPrivateKey implements CryptoKey {
  readonly type = 'private' as const;
  readonly extractable = false;
  readonly usages: KeyUsage[] = ['sign'];
  constructor(
    readonly keyId: string,
    readonly signingAlgorithm: SigningAlgorithm,
    readonly algorithm: KeyAlgorithm & { hash: { name: string }; namedCurve?: string; saltLength?: number },
  ) {}
}

/** The WebCrypto algorithm @peculiar/x509 needs to encode `signingAlgorithm` (and to import the public key). */
function webAlgorithm(signingAlgorithm: SigningAlgorithm, keySpec: string): KmsPrivateKey['algorithm'] {
  const hash = signingHash(signingAlgorithm);
  const webHash = { name: `SHA-${hash.slice(3)}` };
  if (signingAlgorithm.startsWith('ECDSA_')) {
    return { name: 'ECDSA', hash: webHash, namedCurve: eccCurve(keySpec as 'ECC_NIST_P256' | 'ECC_NIST_P384') };
  }
  // AWS KMS (and Keyhold) sign PSS with a salt as long as the hash.
  if (signingAlgorithm.startsWith('RSASSA_PSS_')) return { name: 'RSA-PSS', hash: webHash, saltLength: digestLength(hash) };
  return { name: 'RSASSA-PKCS1-v1_5', hash: webHash };
}

/** Node's WebCrypto, except that `sign` with a KmsPrivateKey is done by Keyhold over a local digest. */
function kmsWebCrypto(client: KeyholdClient, x509: X509Module): Crypto {
  const sign = async (algorithm: AlgorithmIdentifier, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> => {
    if (!(key instanceof KmsPrivateKey)) return webcrypto.subtle.sign(algorithm as Algorithm, key as webcrypto.CryptoKey, data as ArrayBuffer);
    // Hashing here keeps any TBS size under the server's 4096-byte RAW limit.
    const bytes = ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data as ArrayBuffer);
    const digest = createHash(signingHash(key.signingAlgorithm)).update(bytes).digest();
    const { signature } = await client.sign({ keyId: key.keyId, message: digest, messageType: 'DIGEST', signingAlgorithm: key.signingAlgorithm });
    if (key.algorithm.name !== 'ECDSA') return arrayBuffer(signature);
    // KMS answers DER (ECDSA-Sig-Value); WebCrypto, and so @peculiar/x509, expects r||s.
    const raw = new x509.AsnEcSignatureFormatter().toWebSignature(key.algorithm, arrayBuffer(signature));
    if (!raw) throw unexpectedAnswer('the ECDSA signature the server returned is not DER');
    return raw;
  };
  const subtle = new Proxy(webcrypto.subtle, {
    get(target, property) {
      if (property === 'sign') return sign;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    subtle,
    getRandomValues: <T extends ArrayBufferView | null>(array: T) => webcrypto.getRandomValues(array as never) as T,
    randomUUID: () => webcrypto.randomUUID(),
  } as unknown as Crypto;
}

/** The server signed, but not as its public key says: exit 1 like any bad answer. */
function unexpectedAnswer(message: string): KeyholdApiError {
  return new KeyholdApiError('UnexpectedResponse', 200, message);
}

/** A copy of the bytes in a plain ArrayBuffer, as the WebCrypto types want. */
function arrayBuffer(bytes: Buffer): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}

interface KmsSigner {
  key: GetPublicKeyResult;
  privateKey: KmsPrivateKey;
  crypto: Crypto;
}

async function kmsSigner(client: KeyholdClient, x509: X509Module, keyId: string, requested?: SigningAlgorithm): Promise<KmsSigner> {
  const key = await client.getPublicKey(keyId);
  const signingAlgorithm = chooseSigningAlgorithm(key, requested);
  return { key, privateKey: new KmsPrivateKey(keyId, signingAlgorithm, webAlgorithm(signingAlgorithm, key.keySpec)), crypto: kmsWebCrypto(client, x509) };
}

/** RFC 4514 text ("CN=…,O=…") as a Name, in the order written. */
function parseSubject(x509: X509Module, text: string): X509.Name {
  let name: X509.Name;
  try {
    name = new x509.Name(text);
  } catch (error) {
    throw new UsageError(`--subject '${text.slice(0, 128)}': ${(error as Error).message}`);
  }
  /* Precondition: a subject has at least one attribute and no empty value ("foo" parses as an empty name). */
  const attributes = name.toJSON().flatMap((rdn) => Object.values(rdn).flat());
  if (attributes.length === 0 || attributes.some((value) => String(value).length === 0)) {
    throw new UsageError(`--subject '${text.slice(0, 128)}' is not a name like "CN=example.com,O=Example"`);
  }
  return name;
}

const SAN_TYPES: Record<string, X509.GeneralNameType> = { dns: 'dns', ip: 'ip', email: 'email', uri: 'url' };

function collectSan(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function parseSans(x509: X509Module, values: string[] | undefined): X509.Extension[] {
  if (!values?.length) return [];
  const names = values.map((value) => {
    const at = value.indexOf(':');
    const type = SAN_TYPES[value.slice(0, at).toLowerCase()];
    const name = value.slice(at + 1);
    if (at < 1 || type === undefined || name.length === 0) throw new UsageError(`--san '${value.slice(0, 64)}': expected dns:NAME, ip:ADDRESS, email:ADDRESS or uri:URI`);
    if (type === 'ip' && isIP(name) === 0) throw new UsageError(`--san '${value.slice(0, 64)}': not an IPv4 or IPv6 address`);
    return { type, value: name };
  });
  return [new x509.SubjectAlternativeNameExtension(names)];
}

interface ProfileOptions {
  ca?: boolean;
  pathLength?: number;
  client?: boolean;
  server?: boolean;
}

/** The extensions that say what a certificate is for: a CA, or a leaf key for TLS. */
function profileExtensions(x509: X509Module, options: ProfileOptions, subjectKeyIsRsa: boolean): X509.Extension[] {
  /* Precondition: a path length constrains a CA only. */
  if (options.pathLength !== undefined && !options.ca) throw new UsageError('--path-length needs --ca');
  const { KeyUsageFlags } = x509;
  const extensions: X509.Extension[] = options.ca
    ? [
        new x509.BasicConstraintsExtension(true, options.pathLength, true),
        new x509.KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      ]
    : [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(KeyUsageFlags.digitalSignature | (subjectKeyIsRsa ? KeyUsageFlags.keyEncipherment : 0), true),
      ];
  const purposes = [...(options.server ? [x509.ExtendedKeyUsage.serverAuth] : []), ...(options.client ? [x509.ExtendedKeyUsage.clientAuth] : [])];
  if (purposes.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(purposes, false));
  return extensions;
}

/** A random positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function randomSerial(): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial.toString('hex');
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * DAY_MS) };
}

function isRsa(spki: ArrayBuffer | Buffer): boolean {
  return createPublicKey({ key: Buffer.from(spki as ArrayBuffer), format: 'der', type: 'spki' }).asymmetricKeyType === 'rsa';
}

/** Same key, whatever the encoding details of the two SubjectPublicKeyInfos. */
function samePublicKey(a: ArrayBuffer | Buffer, b: ArrayBuffer | Buffer): boolean {
  const canonical = (der: ArrayBuffer | Buffer) =>
    createPublicKey({ key: Buffer.from(der as ArrayBuffer), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  return canonical(a).equals(canonical(b));
}

function readPemFile<T>(path: string, what: string, parse: (text: string) => T): T {
  const text = readFileSync(path, 'utf8');
  try {
    return parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not a PEM ${what}: ${(error as Error).message}`);
  }
}

function writePem(pem: string, out: string | undefined): void {
  writeOutput(Buffer.from(pem.endsWith('\n') ? pem : `${pem}\n`), { out });
}

function example(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((line) => `  $ ${line}`).join('\n')}`);
}

function profileOptions(command: Command): Command {
  return command
    .requiredOption('--days <n>', 'days the certificate is valid (it starts 5 minutes in the past)', positiveInteger)
    .option('--ca', 'a CA certificate: basicConstraints CA:TRUE (critical), keyUsage keyCertSign and cRLSign')
    .option('--path-length <n>', 'with --ca: how many CA certificates may follow this one', positiveInteger)
    .option('--server', 'extendedKeyUsage serverAuth (TLS server)')
    .option('--client', 'extendedKeyUsage clientAuth (TLS client, mTLS)')
    .option('--algorithm <alg>', "signing algorithm (default: the key's, e.g. ECDSA_SHA_256; RSA: RSASSA_PKCS1_V1_5_SHA_256)", parseSigningAlgorithm)
    .option('--out <file>', 'write the PEM to a file (default: stdout)');
}

export function certCommands(): Command[] {
  const csr = example(
    new Command('csr')
      .description('print a PKCS#10 certificate signing request (PEM) signed by a KMS key')
      .requiredOption('--key-id <key>', 'the SIGN_VERIFY key the request is for')
      .requiredOption('--subject <name>', 'the subject, e.g. "CN=client-1,O=Example"')
      .option('--san <type:value>', 'subject alternative name: dns:NAME, ip:ADDRESS, email:ADDRESS, uri:URI (repeatable)', collectSan)
      .option('--algorithm <alg>', "signing algorithm (default: the key's, e.g. ECDSA_SHA_256; RSA: RSASSA_PKCS1_V1_5_SHA_256)", parseSigningAlgorithm)
      .option('--out <file>', 'write the PEM to a file (default: stdout)'),
    'keyhold csr --key-id alias/web --subject "CN=www.example.com,O=Example" --san dns:www.example.com --san ip:10.0.0.1 --out web.csr',
  ).action(async (options, command: Command) => {
    const x509 = await loadX509();
    const name = parseSubject(x509, options.subject);
    const extensions = parseSans(x509, options.san);
    const request = await withClient(command, async (client) => {
      const signer = await kmsSigner(client, x509, options.keyId, options.algorithm);
      const publicKey = await webcrypto.subtle.importKey('spki', arrayBuffer(signer.key.publicKey), signer.privateKey.algorithm, true, ['verify']);
      return x509.Pkcs10CertificateRequestGenerator.create(
        { name, extensions, signingAlgorithm: signer.privateKey.algorithm, keys: { publicKey: publicKey as CryptoKey, privateKey: signer.privateKey } },
        signer.crypto,
      );
    });
    /* Postcondition: the request verifies with the key's public key (the server signed with the key we named). */
    if (!(await request.verify())) throw unexpectedAnswer('the signature on the new request does not verify with the key\'s public key; nothing written');
    writePem(request.toString('pem'), options.out);
  });

  const cert = new Command('cert').description('X.509 certificates signed by KMS keys (a KMS key as a CA)');

  example(
    profileOptions(
      cert
        .command('self-signed')
        .description('print a self-signed certificate (PEM) for a KMS key, e.g. a root CA')
        .requiredOption('--key-id <key>', 'the SIGN_VERIFY key that is both subject and issuer')
        .requiredOption('--subject <name>', 'subject and issuer, e.g. "CN=Example Root CA,O=Example"')
        .option('--san <type:value>', 'subject alternative name: dns:, ip:, email:, uri: (repeatable)', collectSan),
    ),
    'keyhold cert self-signed --key-id alias/root-ca --subject "CN=Example Root CA,O=Example" --days 3650 --ca --path-length 1 --out root.pem',
  ).action(async (options, command: Command) => {
    const x509 = await loadX509();
    const name = parseSubject(x509, options.subject);
    const sans = parseSans(x509, options.san);
    const certificate = await withClient(command, async (client) => {
      const signer = await kmsSigner(client, x509, options.keyId, options.algorithm);
      const extensions = [
        ...profileExtensions(x509, options, isRsa(signer.key.publicKey)),
        await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(arrayBuffer(signer.key.publicKey))),
        ...sans,
      ];
      return x509.X509CertificateGenerator.create(
        { serialNumber: randomSerial(), subject: name, issuer: name, ...validity(options.days), extensions,
          publicKey: arrayBuffer(signer.key.publicKey), signingKey: signer.privateKey, signingAlgorithm: signer.privateKey.algorithm },
        signer.crypto,
      );
    });
    /* Postcondition: the certificate verifies with its own public key. */
    if (!(await certificate.verify({ signatureOnly: true }))) throw unexpectedAnswer('the signature on the new certificate does not verify with the key\'s public key; nothing written');
    writePem(certificate.toString('pem'), options.out);
  });

  example(
    profileOptions(
      cert
        .command('sign')
        .description('issue a certificate from a CSR, signed by a CA whose key is in the KMS')
        .requiredOption('--ca-key-id <key>', "the CA's SIGN_VERIFY key")
        // `--ca-cert FILE` (as the certificate commands spell it) is parsed by the program as the global option
        // of the same name; here it names the issuing CA's certificate (see the action).
        .option('--ca-cert <file>', "the CA's certificate (PEM); its public key must be the CA key's")
        .option('--issuer-cert <file>', 'the same as --ca-cert, for when --ca-cert must name the CA of the Keyhold server')
        .requiredOption('--csr <file>', 'the request (PEM); its subject and subject alternative names are copied'),
    ),
    'keyhold cert sign --ca-key-id alias/root-ca --ca-cert root.pem --csr intermediate.csr --days 1825 --ca --path-length 0 --out intermediate.pem',
    'keyhold cert sign --ca-key-id alias/issuing-ca --ca-cert intermediate.pem --csr web.csr --days 90 --server --out web.pem',
  ).action(async (options, command: Command) => {
    // Without --issuer-cert, --ca-cert is the issuing CA's certificate, and the connection to
    // Keyhold trusts what the profile or credential file says (pin or CA), not that file.
    const globals = globalOptions(command);
    const issuerFromCaCert = options.issuerCert === undefined;
    options.issuerCert ??= globals.caCert;
    if (options.issuerCert === undefined) {
      throw new UsageError("give the CA's certificate with --ca-cert FILE (or --issuer-cert FILE)");
    }
    const x509 = await loadX509();
    const caCertificate = readPemFile(options.issuerCert, 'certificate', (text) => new x509.X509Certificate(text));
    const request = readPemFile(options.csr, 'certificate request', (text) => new x509.Pkcs10CertificateRequest(text));
    /* Precondition: the CSR is signed by the key it asks a certificate for (proof of possession). */
    if (!(await request.verify().catch(() => false))) throw new UsageError(`the signature of ${options.csr} does not verify; refusing to issue`);
    checkIssuer(x509, caCertificate, options);
    const validFor = validity(options.days);
    if (validFor.notAfter > caCertificate.notAfter) {
      process.stderr.write(`keyhold: warning: the certificate outlives the CA certificate (valid until ${caCertificate.notAfter.toISOString()})\n`);
    }
    const connection = issuerFromCaCert ? { ...globals, caCert: undefined } : globals;
    const certificate = await withClientOptions(connection, async (client) => {
      const signer = await kmsSigner(client, x509, options.caKeyId, options.algorithm);
      /* Precondition: the CA key is the key of the CA certificate, or the chain would not verify. */
      if (!samePublicKey(signer.key.publicKey, caCertificate.publicKey.rawData)) {
        throw new UsageError(`the public key of ${options.caKeyId} is not the public key of ${options.issuerCert}`);
      }
      const extensions = [
        ...profileExtensions(x509, options, isRsa(request.publicKey.rawData)),
        await x509.SubjectKeyIdentifierExtension.create(request.publicKey),
        await authorityKeyIdentifier(x509, caCertificate),
        ...request.extensions.filter((extension) => extension instanceof x509.SubjectAlternativeNameExtension),
      ];
      return x509.X509CertificateGenerator.create(
        { serialNumber: randomSerial(), subject: request.subjectName, issuer: caCertificate.subjectName, ...validFor, extensions,
          publicKey: request.publicKey, signingKey: signer.privateKey, signingAlgorithm: signer.privateKey.algorithm },
        signer.crypto,
      );
    });
    /* Postcondition: the certificate verifies with the CA certificate's public key. */
    if (!(await certificate.verify({ publicKey: caCertificate.publicKey, signatureOnly: true }))) {
      throw unexpectedAnswer('the signature on the new certificate does not verify with the CA certificate; nothing written');
    }
    writePem(certificate.toString('pem'), options.out);
  });

  return [csr, cert];
}

/** Refuses a CA certificate that may not issue what is asked. */
function checkIssuer(x509: X509Module, caCertificate: X509.X509Certificate, options: ProfileOptions & { issuerCert: string }): void {
  const constraints = caCertificate.getExtension(x509.BasicConstraintsExtension);
  /* Precondition: only a CA certificate issues certificates. */
  if (!constraints?.ca) throw new UsageError(`${options.issuerCert} is not a CA certificate (no basicConstraints CA:TRUE)`);
  /* Precondition: a CA with path length 0 issues no further CA. */
  if (options.ca && constraints.pathLength === 0) throw new UsageError(`${options.issuerCert} has path length 0: it may not issue a CA certificate`);
  /* Precondition: a CA below an issuer with a path length allows fewer CAs below it than the issuer. */
  if (options.ca && constraints.pathLength !== undefined && (options.pathLength === undefined || options.pathLength >= constraints.pathLength)) {
    throw new UsageError(`${options.issuerCert} has path length ${constraints.pathLength}: give --path-length ${constraints.pathLength - 1} or less`);
  }
  /* Precondition: the CA certificate is valid now, or what it issues would not verify. */
  const now = new Date();
  if (now < caCertificate.notBefore || now > caCertificate.notAfter) {
    throw new UsageError(`${options.issuerCert} is not valid now (valid from ${caCertificate.notBefore.toISOString()} to ${caCertificate.notAfter.toISOString()})`);
  }
  const usages = caCertificate.getExtension(x509.KeyUsagesExtension);
  if (usages && (usages.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new UsageError(`${options.issuerCert} may not sign certificates (its keyUsage lacks keyCertSign)`);
  }
}

/** The CA certificate's own key identifier when it has one, so chains link the way the CA says. */
async function authorityKeyIdentifier(x509: X509Module, caCertificate: X509.X509Certificate): Promise<X509.Extension> {
  const subjectKeyId = caCertificate.getExtension(x509.SubjectKeyIdentifierExtension);
  return subjectKeyId ? new x509.AuthorityKeyIdentifierExtension(subjectKeyId.keyId) : x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey);
}

async function withClientOptions<T>(options: GlobalOptions, work: (client: KeyholdClient) => Promise<T>): Promise<T> {
  const client = new KeyholdClient(connectionOptions(options));
  try {
    return await work(client);
  } finally {
    client.close();
  }
}
