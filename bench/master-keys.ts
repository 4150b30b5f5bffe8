/**
 * Issue 4's measurement (`npm run bench -- --masters`): server start time and encrypt
 * throughput under each master key — passphrase with PBKDF2 (600,000 iterations), passphrase
 * with argon2id (64 MiB, t=3), and PKCS#11 on a SoftHSM2 token. The root key is unwrapped
 * once at start, so the master key should show in the start time and nowhere else.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { LoadGenerator } from './load-job.js';
import { startKeyhold, timeKeyholdStart, waitForQuietMachine } from './processes.js';
import { log, writeResults, type ScenarioResult } from './report.js';
import { encryptScenario, measureOn, PASSPHRASE_MASTER, type Timing } from './scenarios.js';
import { makeSoftHsmToken, softHsmMissing } from './softhsm-token.js';
import { prepareStore } from './store-setup.js';

const TIMED_STARTS = 5;

interface MasterKeyResult {
  master: string;
  /** Median, min and max of the timed starts, spawn to "keyhold is listening". */
  startMedianMs: number;
  startMinMs: number;
  startMaxMs: number;
  encrypt: ScenarioResult;
}

const MASTERS: { name: string; env: (dir: string) => Record<string, string> }[] = [
  { name: 'passphrase, PBKDF2-SHA256 600k', env: () => ({ ...PASSPHRASE_MASTER, KEYHOLD_KDF: 'pbkdf2' }) },
  { name: 'passphrase, argon2id 64 MiB t=3', env: () => ({ ...PASSPHRASE_MASTER, KEYHOLD_KDF: 'argon2id' }) },
  { name: 'pkcs11, SoftHSM2 2.6', env: (dir) => makeSoftHsmToken(dir) },
];

export async function measureMasterKeys(load: LoadGenerator, tempDir: string, timing: Timing): Promise<void> {
  const results: MasterKeyResult[] = [];
  for (const [index, master] of MASTERS.entries()) {
    const dir = path.join(tempDir, `master-${index}`);
    mkdirSync(dir, { recursive: true });
    if (master.name.startsWith('pkcs11') && softHsmMissing()) {
      log(`skipping ${master.name}: ${softHsmMissing()} (apt-get install -y softhsm2)`);
      continue;
    }
    const masterEnv = master.env(dir);
    const dataDir = path.join(dir, 'data');
    const prepared = await prepareStore(dataDir, masterEnv, 0);
    // The first start makes the TLS certificate; the timed ones find the store and cert in place.
    await timeKeyholdStart({ dataDir, masterEnv });
    const starts: number[] = [];
    for (let i = 0; i < TIMED_STARTS; i++) {
      // A start is one process on one core for half a second: anything else running shows.
      await waitForQuietMachine(20, 10);
      starts.push(await timeKeyholdStart({ dataDir, masterEnv }));
    }
    starts.sort((a, b) => a - b);
    log(`${master.name}: starts ${starts.map((ms) => Math.round(ms)).join(', ')} ms; encrypt 1 KiB`);

    const keyhold = await startKeyhold({ dataDir, masterEnv });
    try {
      const encrypt = await measureOn(load, keyhold, prepared, encryptScenario(prepared), timing);
      results.push({
        master: master.name,
        startMedianMs: Math.round(starts[Math.floor(starts.length / 2)]!),
        startMinMs: Math.round(starts[0]!),
        startMaxMs: Math.round(starts[starts.length - 1]!),
        encrypt,
      });
    } finally {
      await keyhold.stop();
    }
  }

  console.log('\n| master key | start ms, median of 5 (min–max) | encrypt 1 KiB req/s | p50 ms | p99 ms | user CPU % server / load gen / other | failures |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.master} | ${r.startMedianMs} (${r.startMinMs}–${r.startMaxMs}) | ${Math.round(r.encrypt.requestsPerSec)} | ` +
        `${r.encrypt.p50Ms.toFixed(2)} | ${r.encrypt.p99Ms.toFixed(2)} | ` +
        `${Math.round(r.encrypt.serverCpuPercent)} / ${Math.round(r.encrypt.loadGeneratorCpuPercent)} / ${Math.round(r.encrypt.otherCpuPercent)} | ` +
        `${r.encrypt.failures} |`,
    );
  }
  console.log('');
  log(`wrote ${writeResults('masters.json', results)}`);
}
