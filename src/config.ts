import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { StartupError } from './errors.js';
import { rule } from './validation-message.js';

/**
 * The configuration schema, defined once. Every variable is documented in .env.example
 * and docs/operations.md. Invalid configuration stops the server at start with one line naming
 * the variable.
 */
/** A whole decimal number (no blanks, signs, hex or exponents) within range. */
function wholeNumber(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,10}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/**
 * The region and account Keyhold answers as on the AWS door (KEYHOLD_AWS_REGION,
 * KEYHOLD_AWS_ACCOUNT_ID): the ARNs of its keys and aliases name them (src/kms/arn.ts).
 */
export interface AwsIdentity {
  region: string;
  accountId: string;
}

export const DEFAULT_AWS_IDENTITY: AwsIdentity = Object.freeze({ region: 'us-east-1', accountId: '111122223333' });

/** Regions as AWS spells them: `us-east-1`, `eu-central-2`, `us-gov-west-1`, … */
const AWS_REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const AWS_ACCOUNT_PATTERN = /^\d{12}$/;

/** More HTTP workers than this is a typo, not a machine. */
export const MAX_WORKERS = 256;

/**
 * An action not answered within this answers 503 instead (KEYHOLD_REQUEST_TIMEOUT_MS): far
 * above any action on a healthy server, and above the default deadline of a call to AWS KMS or
 * Google Cloud KMS (10 s), so that a silent provider still answers DependencyTimeoutException
 * as AWS KMS would. A frozen primary is noticed by the workers' 1 s heartbeat, not by this.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

/**
 * Connection limits of the HTTPS server (src/runtime/https-server.ts). A client gets this long to
 * send a request's headers, an idle keep-alive connection is closed after this long, and each
 * serving process holds at most this many connections: without them, node waits 60 s for
 * headers and 300 s for a request, and keeps every connection a client opens.
 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** `host:port` of the metrics listener: a name, an IPv4 address or a bracketed IPv6 address, and a port. */
const METRICS_ADDRESS_PATTERN = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

const metricsAddress = z.string().transform((value, context) => {
  const match = METRICS_ADDRESS_PATTERN.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    context.addIssue({ code: 'custom', message: 'must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464' });
    return z.NEVER;
  }
  return { host: (match[1] ?? match[2])!, port };
});

const environmentSchema = z.object({
  KEYHOLD_HOST: z.string().min(1).default('127.0.0.1'),
  KEYHOLD_PORT: wholeNumber(0, 65535).default(8443),
  KEYHOLD_DATA_DIR: z.string().min(1).default('./data'),
  KEYHOLD_STORE_URL: z
    .string()
    .refine((value) => /^postgres(ql)?:\/\/[^\s]+$/.test(value) && URL.canParse(value), {
      message: 'must be a PostgreSQL URL, postgres://user[:password]@host[:port]/database[?sslmode=…]',
    })
    .optional(),
  KEYHOLD_TLS_CERT: z.string().min(1).optional(),
  KEYHOLD_TLS_KEY: z.string().min(1).optional(),
  KEYHOLD_MASTER: z.enum(['passphrase', 'pkcs11']).default('passphrase'),
  KEYHOLD_PASSPHRASE: z.string().optional(),
  KEYHOLD_PASSPHRASE_FILE: z.string().min(1).optional(),
  KEYHOLD_KDF: z.enum(['pbkdf2', 'argon2id']).default('pbkdf2'),
  KEYHOLD_PKCS11_LIB: z.string().min(1).optional(),
  KEYHOLD_PKCS11_TOKEN_LABEL: z.string().min(1).optional(),
  KEYHOLD_PKCS11_SLOT: wholeNumber(0, Number.MAX_SAFE_INTEGER).optional(),
  KEYHOLD_PKCS11_PIN: z.string().optional(),
  KEYHOLD_PKCS11_PIN_FILE: z.string().min(1).optional(),
  KEYHOLD_PKCS11_KEY_LABEL: z.string().min(1).default('keyhold-master'),
  KEYHOLD_GOKMS_AUTH_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  KEYHOLD_GOKMS_POLICY_FILE: z.string().min(1).optional(),
  KEYHOLD_AUDIT_RETENTION_DAYS: wholeNumber(1, 36_500).optional(),
  KEYHOLD_AWS_REGION: z.string().regex(AWS_REGION_PATTERN, 'must be an AWS region name such as us-east-1').default(DEFAULT_AWS_IDENTITY.region),
  KEYHOLD_AWS_ACCOUNT_ID: z.string().regex(AWS_ACCOUNT_PATTERN, 'must be 12 digits').default(DEFAULT_AWS_IDENTITY.accountId),
  KEYHOLD_PROVIDER_TIMEOUT_MS: wholeNumber(100, 600_000).default(10_000),
  KEYHOLD_PROVIDER_MAX_ATTEMPTS: wholeNumber(1, 10).default(3),
  KEYHOLD_GCP_KMS_ENDPOINT: z
    .string()
    .regex(/^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
    .optional(),
  KEYHOLD_WORKERS: wholeNumber(1, MAX_WORKERS).default(() => Math.min(os.availableParallelism(), MAX_WORKERS)),
  // KeyRegistry's DEFAULT_KEY_CACHE_SIZE (a test keeps the two equal).
  KEYHOLD_KEY_CACHE_SIZE: wholeNumber(1, 10_000_000).default(10_000),
  // The ciphertext format encrypt writes (docs/formats.md); every format is read either way.
  KEYHOLD_CIPHERTEXT_FORMAT: wholeNumber(1, 2).default(2),
  KEYHOLD_REQUEST_TIMEOUT_MS: wholeNumber(100, 600_000).default(DEFAULT_REQUEST_TIMEOUT_MS),
  KEYHOLD_HEADERS_TIMEOUT_MS: wholeNumber(100, 600_000).default(DEFAULT_HEADERS_TIMEOUT_MS),
  KEYHOLD_KEEPALIVE_TIMEOUT_MS: wholeNumber(100, 600_000).default(DEFAULT_KEEPALIVE_TIMEOUT_MS),
  KEYHOLD_MAX_CONNECTIONS: wholeNumber(1, 1_000_000).default(DEFAULT_MAX_CONNECTIONS),
  KEYHOLD_METRICS_ADDR: metricsAddress.optional(),
  KEYHOLD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  KEYHOLD_LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  NODE_ENV: z.string().optional(),
});

/** A secret given inline or as a file to read (setting both is an error). */
export type SecretSource = { value: string } | { file: string };

function secretSource(value: string | undefined, file: string | undefined): SecretSource | undefined {
  if (value !== undefined) return { value };
  if (file !== undefined) return { file };
  return undefined;
}

export type KdfAlgorithm = 'pbkdf2' | 'argon2id';

export interface KeyholdConfig {
  host: string;
  port: number;
  dataDir: string;
  /** A PostgreSQL URL: the records live in that database, which several nodes may share; else LevelDB in dataDir. */
  storeUrl: string | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
  master: 'passphrase' | 'pkcs11';
  passphrase: SecretSource | undefined;
  kdf: KdfAlgorithm;
  pkcs11: {
    library: string | undefined;
    tokenLabel: string | undefined;
    slot: number | undefined;
    pin: SecretSource | undefined;
    keyLabel: string;
  };
  goKmsAuthKey: string | undefined;
  /** A policy document for the go-kms legacy principal (admin when unset). */
  goKmsPolicyFile: string | undefined;
  /** Audit records older than this many days are removed (their chain stays verifiable); undefined keeps all. */
  auditRetentionDays: number | undefined;
  /** The AWS door's region (requests must be signed for it) and the account of its ARNs. */
  aws: AwsIdentity;
  /** AWS KMS and Google Cloud KMS, for keys whose private half lives there. */
  remote: { timeoutMs: number; maxAttempts: number; gcpEndpoint: string | undefined };
  /** HTTP worker processes (node:cluster); 1 serves from the one process that owns the store. */
  workers: number;
  /** Key records, and unwrapped version keys, each serving process keeps in memory. */
  keyCacheSize: number;
  /** The format of the blobs encrypt and generatedatakey make: 2, or 1 while older releases must read them. */
  ciphertextFormat: 1 | 2;
  /** Past this, an action answers 503 ServiceUnavailableException (its work may still complete). */
  requestTimeoutMs: number;
  /** The HTTPS server's connection limits, per serving process. */
  connections: { headersTimeoutMs: number; keepAliveTimeoutMs: number; maxConnections: number };
  /** KEYHOLD_METRICS_ADDR: where Prometheus scrapes `GET /metrics` (plain HTTP); undefined: no metrics at all. */
  metrics: { host: string; port: number } | undefined;
  logLevel: string;
  /** `json` lines (default) or `pretty` for people (KEYHOLD_LOG_FORMAT). */
  logFormat: 'json' | 'pretty';
  production: boolean;
}

/**
 * Reads the configuration from an environment (process.env by default). A `.env` file in
 * the working directory is loaded first by the server entry point; variables already set
 * win over it.
 *
 * @example
 *   const config = loadConfig({ KEYHOLD_PORT: '0', KEYHOLD_DATA_DIR: '/tmp/kh' });
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): KeyholdConfig {
  const input = Object.fromEntries(
    Object.entries(env).filter(([name, value]) => value !== '' && name in environmentSchema.shape),
  );
  const parsed = environmentSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'configuration');
    // Never the value: it may be a passphrase or a PIN.
    throw new StartupError(rule(issue, input), variable);
  }
  const e = parsed.data;

  if (Boolean(e.KEYHOLD_TLS_CERT) !== Boolean(e.KEYHOLD_TLS_KEY)) {
    const missing = e.KEYHOLD_TLS_CERT ? 'KEYHOLD_TLS_KEY' : 'KEYHOLD_TLS_CERT';
    throw new StartupError('KEYHOLD_TLS_CERT and KEYHOLD_TLS_KEY must be set together', missing);
  }
  for (const variable of ['KEYHOLD_TLS_CERT', 'KEYHOLD_TLS_KEY', 'KEYHOLD_PASSPHRASE_FILE', 'KEYHOLD_PKCS11_PIN_FILE', 'KEYHOLD_GOKMS_POLICY_FILE'] as const) {
    const file = e[variable];
    if (file !== undefined && !existsSync(file)) {
      throw new StartupError(`file ${file} does not exist`, variable);
    }
  }
  if (e.KEYHOLD_PASSPHRASE !== undefined && e.KEYHOLD_PASSPHRASE_FILE !== undefined) {
    throw new StartupError('set KEYHOLD_PASSPHRASE or KEYHOLD_PASSPHRASE_FILE, not both', 'KEYHOLD_PASSPHRASE');
  }
  if (e.KEYHOLD_PKCS11_TOKEN_LABEL !== undefined && e.KEYHOLD_PKCS11_SLOT !== undefined) {
    throw new StartupError('set KEYHOLD_PKCS11_TOKEN_LABEL or KEYHOLD_PKCS11_SLOT, not both', 'KEYHOLD_PKCS11_TOKEN_LABEL');
  }
  if (e.KEYHOLD_PKCS11_PIN !== undefined && e.KEYHOLD_PKCS11_PIN_FILE !== undefined) {
    throw new StartupError('set KEYHOLD_PKCS11_PIN or KEYHOLD_PKCS11_PIN_FILE, not both', 'KEYHOLD_PKCS11_PIN');
  }

  return {
    host: e.KEYHOLD_HOST,
    port: e.KEYHOLD_PORT,
    dataDir: path.resolve(e.KEYHOLD_DATA_DIR),
    storeUrl: e.KEYHOLD_STORE_URL,
    tls: e.KEYHOLD_TLS_CERT && e.KEYHOLD_TLS_KEY ? { certFile: e.KEYHOLD_TLS_CERT, keyFile: e.KEYHOLD_TLS_KEY } : undefined,
    master: e.KEYHOLD_MASTER,
    passphrase: secretSource(e.KEYHOLD_PASSPHRASE, e.KEYHOLD_PASSPHRASE_FILE),
    kdf: e.KEYHOLD_KDF,
    pkcs11: {
      library: e.KEYHOLD_PKCS11_LIB,
      tokenLabel: e.KEYHOLD_PKCS11_TOKEN_LABEL,
      slot: e.KEYHOLD_PKCS11_SLOT,
      pin: secretSource(e.KEYHOLD_PKCS11_PIN, e.KEYHOLD_PKCS11_PIN_FILE),
      keyLabel: e.KEYHOLD_PKCS11_KEY_LABEL,
    },
    goKmsAuthKey: e.KEYHOLD_GOKMS_AUTH_KEY,
    goKmsPolicyFile: e.KEYHOLD_GOKMS_POLICY_FILE,
    auditRetentionDays: e.KEYHOLD_AUDIT_RETENTION_DAYS,
    aws: { region: e.KEYHOLD_AWS_REGION, accountId: e.KEYHOLD_AWS_ACCOUNT_ID },
    remote: {
      timeoutMs: e.KEYHOLD_PROVIDER_TIMEOUT_MS,
      maxAttempts: e.KEYHOLD_PROVIDER_MAX_ATTEMPTS,
      gcpEndpoint: e.KEYHOLD_GCP_KMS_ENDPOINT,
    },
    workers: e.KEYHOLD_WORKERS,
    keyCacheSize: e.KEYHOLD_KEY_CACHE_SIZE,
    ciphertextFormat: e.KEYHOLD_CIPHERTEXT_FORMAT as 1 | 2,
    requestTimeoutMs: e.KEYHOLD_REQUEST_TIMEOUT_MS,
    connections: {
      headersTimeoutMs: e.KEYHOLD_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEYHOLD_KEEPALIVE_TIMEOUT_MS,
      maxConnections: e.KEYHOLD_MAX_CONNECTIONS,
    },
    metrics: e.KEYHOLD_METRICS_ADDR,
    logLevel: e.KEYHOLD_LOG_LEVEL,
    logFormat: e.KEYHOLD_LOG_FORMAT,
    production: e.NODE_ENV === 'production',
  };
}
