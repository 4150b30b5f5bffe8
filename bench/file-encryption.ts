/**
 * encrypt-file / decrypt-file of a large file through the real, compiled CLI against a real
 * server, next to a bare node:crypto AES-256-GCM stream over the same file in the same run
 * (issue 6: throughput >= 80 % of the bare stream, peak RSS < 100 MB).
 * Run with `npm run bench:files` (builds first); `--size-mib N` (default 1024).
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, startKeyhold } from './processes.js';
import { PASSPHRASE_MASTER } from './scenarios.js';
import { prepareStore } from './store-setup.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/keyhold.js');
const BARE = path.join(ROOT, 'bench/bare-gcm-stream.mjs');
const MAX_RSS = path.join(ROOT, 'bench/max-rss.mjs');

const sizeArgument = process.argv.indexOf('--size-mib');
const sizeMib = sizeArgument > 0 ? Number(process.argv[sizeArgument + 1]) : 1024;

/** Runs a node program to completion; returns its wall time and peak RSS. */
async function timed(args: string[], env: Record<string, string>, rssFile: string): Promise<{ seconds: number; peakRssMb: number }> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ['--import', MAX_RSS, ...args], {
    env: cleanEnv({ ...env, KEYHOLD_BENCH_MAX_RSS_FILE: rssFile }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, peakRssMb: Number(readFileSync(rssFile, 'utf8')) / 1024 };
}

const work = mkdtempSync(path.join(os.tmpdir(), 'keyhold-bench-files-'));
try {
  statSync(CLI);
  const dataDir = path.join(work, 'data');
  const prepared = await prepareStore(dataDir, PASSPHRASE_MASTER, 0);
  const server = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER });
  try {
    const input = path.join(work, 'input.bin');
    const chunk = Buffer.alloc(1024 * 1024);
    const descriptor = openSync(input, 'w');
    for (let i = 0; i < sizeMib; i++) writeSync(descriptor, randomFillSync(chunk));
    closeSync(descriptor);
    const connection = { KEYHOLD_URL: server.origin, KEYHOLD_ACCESS_KEY_ID: prepared.accessKeyId, KEYHOLD_SECRET_KEY: prepared.secretKey };
    const rss = path.join(work, 'rss');
    const rows = [
      ['bare GCM stream, encrypt', await timed([BARE, 'encrypt', input, path.join(work, 'bare.enc')], {}, rss)],
      ['keyhold encrypt-file', await timed([CLI, '--insecure', 'encrypt-file', input, path.join(work, 'in.khf'), '--key-id', prepared.keyId], connection, rss)],
      ['bare GCM stream, decrypt', await timed([BARE, 'decrypt', path.join(work, 'bare.enc'), path.join(work, 'bare.out')], {}, rss)],
      ['keyhold decrypt-file', await timed([CLI, '--insecure', 'decrypt-file', path.join(work, 'in.khf'), path.join(work, 'out.bin')], connection, rss)],
    ] as const;
    if (!readFileSync(path.join(work, 'out.bin')).equals(readFileSync(input))) throw new Error('decrypt-file did not give back the input');
    console.log(`\n${sizeMib} MiB, ${new Date().toISOString().slice(0, 10)}, node ${process.version}\n`);
    console.log('| run | seconds | MB/s | vs bare | peak RSS MB |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const [index, [name, result]] of rows.entries()) {
      const bare = rows[index - (index % 2)]![1];
      const rate = (sizeMib * 1.048576) / result.seconds;
      const ratio = `${Math.round((bare.seconds / result.seconds) * 100)} %`;
      console.log(`| ${name} | ${result.seconds.toFixed(2)} | ${rate.toFixed(0)} | ${ratio} | ${result.peakRssMb.toFixed(0)} |`);
    }
  } finally {
    await server.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
