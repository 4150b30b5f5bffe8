/**
 * `npm run bench:propagation`: how soon a change made on one node is obeyed by another node of
 * the same PostgreSQL database (the bound the README states). Two real nodes (the built
 * server, one HTTP worker each) on a throwaway PostgreSQL; node B keeps the key and the
 * credential in its caches by using them, node A changes them, and B is asked again and again,
 * one request after the other, until it answers the change. Timed from A's answer to B's first
 * answer that obeys: what a user who disables a key on one node sees on the other.
 *
 *   - disable key:  A disables the key; B's encrypt is refused (DisabledException).
 *   - enable key:   A enables it again; B's encrypt succeeds.
 *   - disable credential: A disables a credential; B refuses its requests.
 *
 * Options: `--rounds N` (default 50).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KeyholdApiError, KeyholdClient } from '../src/client/index.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { startKeyhold, type BenchProcess } from './processes.js';
import { log } from './report.js';
import { PASSPHRASE_MASTER } from './scenarios.js';
import { startBenchPostgres } from './stores.js';

/** B is asked at most this long for one change before the round counts as failed. */
const GIVE_UP_MS = 5_000;

interface Timings {
  name: string;
  ms: number[];
}

async function main(): Promise<void> {
  const roundsAt = process.argv.indexOf('--rounds');
  const rounds = roundsAt === -1 ? 50 : Number(process.argv[roundsAt + 1]);
  /* Precondition: a whole number of rounds. */
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds takes a whole number ≥ 1');
  const dir = makeTempDir('keyhold-bench-propagation-');
  const postgres = await startBenchPostgres();
  const nodes: BenchProcess[] = [];
  try {
    const dataA = path.join(dir.path, 'node-a');
    const dataB = path.join(dir.path, 'node-b');
    for (const data of [dataA, dataB]) mkdirSync(data, { recursive: true, mode: 0o700 });
    nodes.push(await startKeyhold({ dataDir: dataA, masterEnv: PASSPHRASE_MASTER, workers: 1, storeUrl: postgres.url }));
    const tls = { cert: path.join(dataA, 'tls-cert.pem'), key: path.join(dataA, 'tls-key.pem') };
    nodes.push(await startKeyhold({ dataDir: dataB, masterEnv: PASSPHRASE_MASTER, workers: 1, storeUrl: postgres.url, tls }));
    const admin = JSON.parse(readFileSync(path.join(dataA, 'admin.credentials'), 'utf8')) as { AccessKeyId: string; SecretKey: string };
    const ca = readFileSync(tls.cert);
    const client = (origin: string, accessKeyId: string, secretKey: string | Buffer) => new KeyholdClient({ url: origin, accessKeyId, secretKey, ca });
    const a = client(nodes[0]!.origin, admin.AccessKeyId, admin.SecretKey);
    const b = client(nodes[1]!.origin, admin.AccessKeyId, admin.SecretKey);
    const { KeyId: keyId } = await a.createKey({ description: 'propagation bench' });
    const plaintext = Buffer.from('propagation');
    const encryptOnB = () => b.encrypt({ keyId, plaintext });
    const created = await a.createCredential({
      description: 'propagation bench',
      policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' }] },
    });
    const app = client(nodes[1]!.origin, created.credential.AccessKeyId, created.secretKey);
    const appEncrypt = () => app.encrypt({ keyId, plaintext });

    const disable: Timings = { name: 'disable key on A → refused on B', ms: [] };
    const enable: Timings = { name: 'enable key on A → served on B', ms: [] };
    const credential: Timings = { name: 'disable credential on A → refused on B', ms: [] };
    for (let round = 0; round < rounds; round++) {
      await encryptOnB();
      await a.disableKey(keyId);
      disable.ms.push(await untilB(encryptOnB, 'refused'));
      await a.enableKey(keyId);
      enable.ms.push(await untilB(encryptOnB, 'served'));
      await appEncrypt();
      await a.disableCredential(created.credential.AccessKeyId);
      credential.ms.push(await untilB(appEncrypt, 'refused'));
      await a.enableCredential(created.credential.AccessKeyId);
      await untilB(appEncrypt, 'served');
    }
    for (const c of [a, b, app]) c.close();
    log(`${rounds} rounds, 2 nodes with 1 worker each, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.availableParallelism()}`);
    console.log('| change | median | p95 | max |\n|---|---|---|---|');
    for (const timings of [disable, enable, credential]) {
      const sorted = [...timings.ms].sort((x, y) => x - y);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
      console.log(`| ${timings.name} | ${at(0.5)} ms | ${at(0.95)} ms | ${sorted.at(-1)!.toFixed(1)} ms |`);
    }
  } finally {
    for (const node of nodes) await node.stop();
    postgres.remove();
    dir.remove();
  }
}

/** Asks B until it answers as `wanted`; the milliseconds that took, from now. */
async function untilB(call: () => Promise<unknown>, wanted: 'refused' | 'served'): Promise<number> {
  const started = performance.now();
  for (;;) {
    let served: boolean;
    try {
      await call();
      served = true;
    } catch (error) {
      if (!(error instanceof KeyholdApiError)) throw error;
      served = false;
    }
    const elapsed = performance.now() - started;
    if (served === (wanted === 'served')) return elapsed;
    if (elapsed > GIVE_UP_MS) throw new Error(`node B was still not ${wanted} after ${GIVE_UP_MS} ms`);
  }
}

await main();
