/**
 * encrypt-file / decrypt-file of a large file through the real, compiled CLI against a real
 * server, next to a bare node:crypto AES-256-GCM stream over the same file in the same run
 * (issue 6: throughput >= 80 % of the bare stream, peak RSS < 100 MB).
 * Run with `npm run bench:files` (builds first); `--size-mib N` (default 1024), `--rounds N`
 * (default 3). Each round runs the bare stream and then Keyhold, for encrypt and for decrypt,
 * each after waiting for a quiet machine (this one is shared); a ratio is bare seconds ÷
 * Keyhold seconds within one round, and the table gives the median of the rounds.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, startKeyhold, waitForQuietMachine } from './processes.js';
import { PASSPHRASE_MASTER } from './scenarios.js';
import { prepareStore } from './store-setup.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/keyhold.js');
const BARE = path.join(ROOT, 'bench/bare-gcm-stream.mjs');
const MAX_RSS = path.join(ROOT, 'bench/max-rss.mjs');

function numberOption(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}
const sizeMib = numberOption('--size-mib', 1024);
const rounds = numberOption('--rounds', 3);

interface Run {
  seconds: number;
  peakRssMb: number;
  /** Other processes' user CPU in % of one core just before the run (the quiet check). */
  busyBefore: number;
}

/**
 * Runs a node program to completion; returns its wall time and peak RSS. The peak is the
 * child's ru_maxrss, which also counts the anonymous pages this process held when it forked
 * (about 45 MB here, below every peak measured): hold no large buffers while spawning.
 */
async function timed(args: string[], env: Record<string, string>, rssFile: string): Promise<Run> {
  const busyBefore = await waitForQuietMachine(20, 30);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ['--import', MAX_RSS, ...args], {
    env: cleanEnv({ ...env, KEYHOLD_BENCH_MAX_RSS_FILE: rssFile }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, peakRssMb: Number(readFileSync(rssFile, 'utf8')) / 1024, busyBefore };
}

/**
 * Compares two files 1 MiB at a time. Not readFileSync: a child spawned while this process
 * holds 2 GiB would count those pages in its own peak RSS (fork copies them before exec).
 */
function sameContents(left: string, right: string): boolean {
  if (statSync(left).size !== statSync(right).size) return false;
  const [a, b] = [Buffer.alloc(1024 * 1024), Buffer.alloc(1024 * 1024)];
  const [leftFd, rightFd] = [openSync(left, 'r'), openSync(right, 'r')];
  try {
    for (;;) {
      const read = readSync(leftFd, a);
      if (readSync(rightFd, b) !== read || !a.subarray(0, read).equals(b.subarray(0, read))) return false;
      if (read === 0) return true;
    }
  } finally {
    closeSync(leftFd);
    closeSync(rightFd);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
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
    const file = (name: string) => path.join(work, name);
    const commands: Array<[name: string, args: string[], env: Record<string, string>]> = [
      ['bare GCM stream, encrypt', [BARE, 'encrypt', input, file('bare.enc')], {}],
      ['keyhold encrypt-file', [CLI, '--insecure', 'encrypt-file', input, file('in.khf'), '--key-id', prepared.keyId], connection],
      ['bare GCM stream, decrypt', [BARE, 'decrypt', file('bare.enc'), file('bare.out')], {}],
      ['keyhold decrypt-file', [CLI, '--insecure', 'decrypt-file', file('in.khf'), file('out.bin')], connection],
    ];
    const runs: Run[][] = commands.map(() => []);
    for (let round = 1; round <= rounds; round++) {
      for (const [index, [name, args, env]] of commands.entries()) {
        process.stderr.write(`round ${round}/${rounds}: ${name}\n`);
        runs[index]!.push(await timed(args, env, rss));
      }
      if (!sameContents(file('out.bin'), input)) throw new Error('decrypt-file did not give back the input');
    }

    console.log(`\n${sizeMib} MiB, ${rounds} rounds, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${os.cpus().length} cores\n`);
    console.log('| run | median seconds | median MB/s | vs bare, median (each round) | peak RSS MB, max (each round) | busy before, % of a core (max) |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const [index, [name]] of commands.entries()) {
      const own = runs[index]!;
      const bare = runs[index - (index % 2)]!;
      const ratios = own.map((run, round) => (bare[round]!.seconds / run.seconds) * 100);
      const seconds = median(own.map((run) => run.seconds));
      const rate = (sizeMib * 1.048576) / seconds;
      const ratioText = `${Math.round(median(ratios))} % (${ratios.map((ratio) => Math.round(ratio)).join(', ')})`;
      const peaks = own.map((run) => run.peakRssMb);
      const rssText = `${Math.max(...peaks).toFixed(0)} (${peaks.map((peak) => peak.toFixed(0)).join(', ')})`;
      const busy = Math.max(...own.map((run) => run.busyBefore));
      console.log(`| ${name} | ${seconds.toFixed(2)} | ${rate.toFixed(0)} | ${ratioText} | ${rssText} | ${busy.toFixed(0)} |`);
    }
  } finally {
    await server.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
