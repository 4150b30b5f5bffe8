/**
 * Issue 13: `keyhold admin backup` and `admin restore` of a store with many keys (default
 * 1,000,000): time, file size, and peak resident memory of the server (sampled every 200 ms,
 * summed over its processes) and of each CLI run (its maxRSS). Builds the store in /tmp with
 * bench/million-keys.ts, runs the built server and CLI (dist/), and removes everything after.
 *
 *   npm run build && node --import tsx bench/backup-restore.ts [--keys N] [--workers W]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { certificateSha256 } from '../src/runtime/self-signed.js';
import { loadKeys } from './million-keys.js';
import { cleanEnv, readMemory, startKeyhold } from './processes.js';
import { PASSPHRASE_MASTER } from './scenarios.js';
import { prepareStore } from './store-setup.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'dist/cli/keyhold.js');
const MAX_RSS = path.join(ROOT, 'bench/max-rss.mjs');

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

/** Runs the built CLI; resolves with its wall time, exit code, output and peak RSS (MB). */
function runCli(args: string[], env: Record<string, string>): Promise<{ seconds: number; code: number | null; output: string; maxRssMb: number }> {
  const rssFile = path.join(os.tmpdir(), `keyhold-bench-rss-${process.pid}-${Date.now()}`);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ['--import', MAX_RSS, CLI, ...args], { env: cleanEnv({ ...env, KEYHOLD_BENCH_MAX_RSS_FILE: rssFile }) });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) =>
    child.once('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const maxRssMb = Number(readFileSync(rssFile, 'utf8')) / 1024;
      rmSync(rssFile, { force: true });
      resolve({ seconds, code, output: output.trim(), maxRssMb });
    }),
  );
}

async function main(): Promise<void> {
  const keys = option('--keys', 1_000_000);
  const workers = option('--workers', 1);
  const work = mkdtempSync(path.join(os.tmpdir(), 'keyhold-bench-backup-'));
  const dataDir = path.join(work, 'data');
  try {
    const prepared = await prepareStore(dataDir, PASSPHRASE_MASTER, 0);
    const loadStarted = Date.now();
    await loadKeys(dataDir, PASSPHRASE_MASTER, keys, 1, (loaded) => {
      if (loaded % 100_000 === 0) process.stderr.write(`loaded ${loaded} keys\n`);
    });
    process.stderr.write(`store built in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s\n`);

    const server = await startKeyhold({ dataDir, masterEnv: PASSPHRASE_MASTER, workers });
    const credentials = path.join(work, 'bench.credentials');
    writeFileSync(
      credentials,
      JSON.stringify({ AccessKeyId: prepared.accessKeyId, SecretKey: prepared.secretKey, Url: server.origin, CertSha256: certificateSha256(readFileSync(path.join(dataDir, 'tls-cert.pem'), 'utf8')) }),
      { mode: 0o600 },
    );
    const idle = readMemory(server.pid);
    // Peaks of the whole, of anonymous memory (heap) and of mapped files (LevelDB's tables).
    const peak = { rssMb: idle.rssMb, anonMb: idle.anonMb, fileMb: idle.fileMb };
    const sampler = setInterval(() => {
      try {
        const now = readMemory(server.pid);
        peak.rssMb = Math.max(peak.rssMb, now.rssMb);
        peak.anonMb = Math.max(peak.anonMb, now.anonMb);
        peak.fileMb = Math.max(peak.fileMb, now.fileMb);
      } catch {
        /* a process of the tree exited between listing and reading */
      }
    }, 200);
    const backupFile = path.join(work, 'keyhold.backup');
    const backup = await runCli(['--credentials', credentials, 'admin', 'backup', '--out', backupFile], {});
    clearInterval(sampler);
    await server.stop();
    if (backup.code !== 0) throw new Error(`backup failed: ${backup.output}`);

    const restored = path.join(work, 'restored');
    const restore = await runCli(['admin', 'restore', '--in', backupFile], { ...PASSPHRASE_MASTER, KEYHOLD_DATA_DIR: restored });
    if (restore.code !== 0) throw new Error(`restore failed: ${restore.output}`);

    console.log(
      JSON.stringify(
        {
          keys,
          workers,
          backup: { seconds: +backup.seconds.toFixed(1), fileMb: +(statSync(backupFile).size / 1e6).toFixed(1), cliMaxRssMb: Math.round(backup.maxRssMb), serverIdleRssMb: `${Math.round(idle.rssMb)} (anon ${Math.round(idle.anonMb)}, file ${Math.round(idle.fileMb)})`, serverPeakRssMb: `${Math.round(peak.rssMb)} (anon ${Math.round(peak.anonMb)}, file ${Math.round(peak.fileMb)})`, output: backup.output },
          restore: { seconds: +restore.seconds.toFixed(1), cliMaxRssMb: Math.round(restore.maxRssMb), output: restore.output },
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
