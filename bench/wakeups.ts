/**
 * `node --import tsx bench/wakeups.ts`
 *
 * What waking another thread or process costs on this machine, apart from any Keyhold code.
 * In cluster mode every request's audit record crosses from a worker to the primary and back
 * (one IPC round trip per worker per turn of its event loop), and the primary hands each group
 * of records to LevelDB, which writes on libuv's thread pool (one job per group). On a virtual
 * machine each of those wakes a sleeping thread on the other core, and that can cost far more
 * than the work handed over. This prints, for each, the CPU it costs (all threads of both
 * processes, from process.cpuUsage() and /proc) per hand-over, back to back, and what a
 * 1 ms timer costs (the process sleeps and is woken: the cost of any wake from idle).
 */
import { fork } from 'node:child_process';
import { randomBytes, randomFill, randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Level } from 'level';
import { readCpuSeconds } from './processes.js';

const CHILD = 'wakeups-child';
/** A record about the size of an encrypt's, and a group commit's value: twelve of them as the chain stores them (about 5.2 KB of JSON). */
const RECORD = { Time: new Date().toISOString(), RequestId: 'c8d6c1f2-4a0e-4a5b-9d7e-3f2a1b0c9d8e', Principal: 'AKIAEXAMPLE', SourceIp: '127.0.0.1', Action: 'kms:Encrypt', KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab', Outcome: 'Success' };
const GROUP_VALUE = Buffer.from(JSON.stringify(Array.from({ length: 12 }, (_, index) => ({ ...RECORD, Chain: RECORD.RequestId, Seq: index + 1, PrevMac: randomBytes(32).toString('hex'), Mac: randomBytes(32).toString('hex') }))), 'utf8');

interface Cost {
  /** CPU of the whole measuring process (every thread) per hand-over, µs. */
  senderUs: number;
  /** CPU of the other process per hand-over, µs (IPC only). */
  receiverUs?: number;
  /** Synchronous time of the call that hands over, µs. */
  callUs?: number;
  wallUs: number;
}

if (process.argv[2] === CHILD) {
  process.on('message', (message: { id: number }) => process.send!({ id: message.id }));
} else {
  await main();
}

async function main(): Promise<void> {
  console.log(`${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}\n`);
  console.log('| hand-over, back to back | CPU µs per hand-over (sender + receiver) | synchronous call µs | wall µs |');
  console.log('| --- | ---: | ---: | ---: |');
  const rows: [string, () => Promise<Cost>][] = [
    ['IPC round trip to a child process (advanced serialization, one small record)', ipcRoundTrips],
    ['thread-pool job: crypto.randomFill of 16 bytes', threadPoolJobs],
    ['LevelDB unsynced batch of one value: twelve chained records, 5.2 KB (level, on classic-level)', levelBatches],
  ];
  for (const [name, run] of rows) {
    const cost = await run();
    const total = cost.senderUs + (cost.receiverUs ?? 0);
    const split = cost.receiverUs === undefined ? `${total.toFixed(1)}` : `${total.toFixed(1)} (${cost.senderUs.toFixed(1)} + ${cost.receiverUs.toFixed(1)})`;
    console.log(`| ${name} | ${split} | ${cost.callUs?.toFixed(1) ?? ''} | ${cost.wallUs.toFixed(0)} |`);
  }
  const work = measureSyncWork();
  console.log(`| a 1 ms timer (the process sleeps and is woken) | ${(await timerWake()).toFixed(1)} | | |`);
  console.log(`\nthe work itself, done in place: randomFillSync of 16 bytes ${work.randomUs.toFixed(2)} µs; copying the batch's value ${work.copyUs.toFixed(2)} µs`);
}

/** The CPU of a 1 ms timer sleep, per sleep. */
async function timerWake(): Promise<number> {
  const n = 2_000;
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await sleep(1);
  return cpuSince(before) / n;
}

async function ipcRoundTrips(): Promise<Cost> {
  const child = fork(fileURLToPath(import.meta.url), [CHILD], { serialization: 'advanced', execArgv: process.execArgv });
  const waiting = new Map<number, () => void>();
  // A child that fails to start or dies would leave the round trips waiting forever: say so and stop.
  child.once('exit', (code, signal) => {
    if (!child.killed) {
      console.error(`the child process exited (${signal ?? code}) before the measurement ended`);
      process.exit(1);
    }
  });
  child.on('message', (message: { id: number }) => {
    waiting.get(message.id)?.();
    waiting.delete(message.id);
  });
  let id = 0;
  let callNs = 0n;
  const roundTrip = () =>
    new Promise<void>((resolve) => {
      const next = ++id;
      waiting.set(next, resolve);
      const started = process.hrtime.bigint();
      child.send({ id: next, record: RECORD });
      callNs += process.hrtime.bigint() - started;
    });
  try {
    for (let i = 0; i < 500; i++) await roundTrip();
    return await timed(roundTrip, () => callNs, () => (callNs = 0n), child.pid!);
  } finally {
    child.kill();
  }
}

async function threadPoolJobs(): Promise<Cost> {
  const buffer = Buffer.alloc(16);
  let callNs = 0n;
  const job = () =>
    new Promise<void>((resolve, reject) => {
      const started = process.hrtime.bigint();
      randomFill(buffer, (error) => (error ? reject(error) : resolve()));
      callNs += process.hrtime.bigint() - started;
    });
  for (let i = 0; i < 500; i++) await job();
  return timed(job, () => callNs, () => (callNs = 0n));
}

async function levelBatches(): Promise<Cost> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyhold-wakeups-'));
  const db = new Level<string, Buffer>(path.join(dir, 'db'), { valueEncoding: 'buffer' });
  let n = 0;
  let callNs = 0n;
  const write = () => {
    const started = process.hrtime.bigint();
    const written = db.batch([{ type: 'put', key: `audit!${String(++n).padStart(12, '0')}`, value: GROUP_VALUE }], { sync: false });
    callNs += process.hrtime.bigint() - started;
    return written;
  };
  try {
    await db.open();
    for (let i = 0; i < 500; i++) await write();
    return await timed(write, () => callNs, () => (callNs = 0n));
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `handOver` n times, each waited for, and says what it cost. */
async function timed(handOver: () => Promise<unknown>, callNs: () => bigint, resetCall: () => void, receiverPid?: number): Promise<Cost> {
  const n = 20_000;
  resetCall();
  const receiverBefore = receiverPid === undefined ? 0 : processCpuUs(receiverPid);
  const before = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < n; i++) await handOver();
  const wallUs = ((performance.now() - started) * 1000) / n;
  return {
    senderUs: cpuSince(before) / n,
    receiverUs: receiverPid === undefined ? undefined : (processCpuUs(receiverPid) - receiverBefore) / n,
    callUs: Number(callNs()) / 1000 / n,
    wallUs,
  };
}

function measureSyncWork(): { randomUs: number; copyUs: number } {
  const n = 200_000;
  const buffer = Buffer.alloc(16);
  let started = performance.now();
  for (let i = 0; i < n; i++) randomFillSync(buffer);
  const randomUs = ((performance.now() - started) * 1000) / n;
  started = performance.now();
  for (let i = 0; i < n / 10; i++) Buffer.from(GROUP_VALUE);
  const copyUs = ((performance.now() - started) * 1000) / (n / 10);
  return { randomUs, copyUs };
}

function cpuSince(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

/** A process's CPU time (all threads, user and system), µs (/proc ticks of 10 ms: use long runs). */
function processCpuUs(pid: number): number {
  const { user, system } = readCpuSeconds(pid);
  return (user + system) * 1_000_000;
}
