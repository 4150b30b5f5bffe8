/**
 * Issue 8's measurements, in one process and one run:
 *  1. local sign throughput per key spec through KeyService (unwrapped key cached, the
 *     service's checks included) next to node:crypto's sign alone with the same algorithm;
 *  2. the proxy overhead per call: a sign through KeyService for an AWS KMS key and a Google
 *     Cloud KMS key, each against its in-test fake, next to the same call made directly with
 *     that provider's SDK against the same fake.
 * Sequential calls on one core, so the figures are per-call costs. Run: `npm run bench:asymmetric`
 * (`--seconds N` per measurement, default 3).
 */
import { createHash, sign as nodeSign, constants, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { KeyManagementServiceClient } from '@google-cloud/kms';
import { grpc } from 'google-gax';
import { algorithmsFor, ASYMMETRIC_KEY_SPECS, signingHash, type AsymmetricKeySpec, type SigningAlgorithm } from '../src/crypto/asymmetric-algorithms.js';
import { loadConfig } from '../src/config.js';
import { KeyService } from '../src/kms/key-service.js';
import { openRootKey } from '../src/kms/root-key.js';
import { createRemoteKeyProviders } from '../src/providers/remote-keys/index.js';
import { PassphraseMasterKey } from '../src/providers/master-keys/passphrase.js';
import { LevelDbStore } from '../src/store/leveldb-store.js';
import { startFakeAwsKms } from '../test/fakes/aws-kms.js';
import { startFakeGcpKms } from '../test/fakes/gcp-kms.js';

const secondsArgument = process.argv.indexOf('--seconds');
const SECONDS = secondsArgument > 0 ? Number(process.argv[secondsArgument + 1]) : 3;
const MESSAGE = Buffer.alloc(1024, 7);

/** Calls `work` back to back for `seconds`; answers calls per second and mean µs per call. */
async function rate(work: () => unknown, seconds = SECONDS): Promise<{ perSecond: number; meanUs: number }> {
  for (let i = 0; i < 20; i++) await work();
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let calls = 0;
  while (performance.now() < deadline) {
    await work();
    calls++;
  }
  const elapsed = performance.now() - started;
  return { perSecond: Math.round((calls / elapsed) * 1000), meanUs: Math.round((elapsed / calls) * 1000) };
}

function nodeSignOptions(key: KeyObject, algorithm: SigningAlgorithm) {
  if (algorithm.startsWith('RSASSA_PSS_')) return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: createHash(signingHash(algorithm)).digest().length };
  if (algorithm.startsWith('RSASSA_PKCS1_')) return { key, padding: constants.RSA_PKCS1_PADDING };
  return { key, dsaEncoding: 'der' as const };
}

/** Two ways of making one call, measured in alternating rounds; the median round of each. */
async function paired(a: () => unknown, b: () => unknown, rounds = 5): Promise<[number, number]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    as.push((await rate(a, SECONDS / rounds)).meanUs);
    bs.push((await rate(b, SECONDS / rounds)).meanUs);
  }
  const median = (values: number[]) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  return [median(as), median(bs)];
}

const work = mkdtempSync(path.join(os.tmpdir(), 'keyhold-bench-asym-'));
const aws = await startFakeAwsKms();
const gcp = await startFakeGcpKms();
Object.assign(process.env, {
  AWS_ENDPOINT_URL_KMS: aws.url,
  AWS_ACCESS_KEY_ID: 'AKIABENCHONLY',
  AWS_SECRET_ACCESS_KEY: 'bench-secret-not-real',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});
const store = await LevelDbStore.open(work);
const { rootKey } = await openRootKey(store, new PassphraseMasterKey({ value: 'bench passphrase, not secret', source: 'KEYHOLD_PASSPHRASE' }, 'pbkdf2'));
const providers = createRemoteKeyProviders(loadConfig({ KEYHOLD_GCP_KMS_ENDPOINT: gcp.endpoint }));
const service = new KeyService({ store, rootKey, remoteProviders: providers });

try {
  console.log(`# local sign, 1 KiB RAW message, ${SECONDS} s each, one core`);
  console.log('| spec | algorithm | Keyhold sign/s (RAW) | node:crypto sign/s | ratio | Keyhold sign/s (DIGEST) | ratio |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const spec of ASYMMETRIC_KEY_SPECS as readonly AsymmetricKeySpec[]) {
    const algorithms = algorithmsFor(spec, 'SIGN_VERIFY').signingAlgorithms;
    const chosen = spec.startsWith('RSA_') ? (['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256'] as const) : algorithms;
    const metadata = await service.createKey({ keySpec: spec, keyUsage: 'SIGN_VERIFY' });
    const pair = spec.startsWith('RSA_')
      ? generateKeyPairSync('rsa', { modulusLength: Number(spec.slice(4)) })
      : generateKeyPairSync('ec', { namedCurve: spec === 'ECC_NIST_P256' ? 'P-256' : 'P-384' });
    for (const algorithm of chosen) {
      const keyhold = await rate(() => service.asymmetric.sign({ keyId: metadata.KeyId, message: MESSAGE, signingAlgorithm: algorithm }));
      const bare = await rate(() => nodeSign(signingHash(algorithm), MESSAGE, nodeSignOptions(pair.privateKey, algorithm)));
      const digest = createHash(signingHash(algorithm)).update(MESSAGE).digest();
      const fromDigest = await rate(() => service.asymmetric.sign({ keyId: metadata.KeyId, message: digest, messageType: 'DIGEST', signingAlgorithm: algorithm }));
      const ratio = (n: number) => (n / bare.perSecond).toFixed(2);
      console.log(`| ${spec} | ${algorithm} | ${keyhold.perSecond} | ${bare.perSecond} | ${ratio(keyhold.perSecond)} | ${fromDigest.perSecond} | ${ratio(fromDigest.perSecond)} |`);
    }
  }

  console.log(`\n# proxy overhead per sign call (ECC P-256 digest), sequential, 5 alternating rounds of ${SECONDS / 5} s, median`);
  console.log('| provider | direct SDK call µs | through Keyhold µs | overhead µs |');
  console.log('|---|---:|---:|---:|');
  const digest = createHash('sha256').update(MESSAGE).digest();

  const awsKey = aws.addKey('ECC_NIST_P256', 'SIGN_VERIFY');
  const awsRegistered = await service.createKey({ origin: 'AWS_KMS', providerKeyId: awsKey.arn });
  const awsClient = new KMSClient({ maxAttempts: 1 });
  const [awsDirect, awsKeyhold] = await paired(
    () => awsClient.send(new SignCommand({ KeyId: awsKey.arn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
    () => service.asymmetric.sign({ keyId: awsRegistered.KeyId, message: digest, messageType: 'DIGEST', signingAlgorithm: 'ECDSA_SHA_256' }),
  );
  console.log(`| AWS KMS (fake, HTTP/1.1 JSON) | ${awsDirect} | ${awsKeyhold} | ${awsKeyhold - awsDirect} |`);
  awsClient.destroy();

  const gcpVersion = gcp.addKeyVersion('EC_SIGN_P256_SHA256');
  const gcpRegistered = await service.createKey({ origin: 'GCP_KMS', providerKeyId: gcpVersion.name });
  const [host, port] = gcp.endpoint.split(':') as [string, string];
  const gcpClient = new KeyManagementServiceClient({ apiEndpoint: host, port: Number(port), sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' });
  const [gcpDirect, gcpKeyhold] = await paired(
    () => gcpClient.asymmetricSign({ name: gcpVersion.name, digest: { sha256: digest } }),
    () => service.asymmetric.sign({ keyId: gcpRegistered.KeyId, message: digest, messageType: 'DIGEST', signingAlgorithm: 'ECDSA_SHA_256' }),
  );
  console.log(`| Google Cloud KMS (fake, gRPC) | ${gcpDirect} | ${gcpKeyhold} | ${gcpKeyhold - gcpDirect} |`);
  await gcpClient.close();
} finally {
  service.clearCaches();
  await providers.close();
  await store.close();
  await aws.close();
  await gcp.close();
  rmSync(work, { recursive: true, force: true });
}
