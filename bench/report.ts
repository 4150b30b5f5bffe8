/**
 * The results of a run: a Markdown table on stdout (pasteable into RESULTS.md) and
 * bench/results/*.json for tools.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export interface ScenarioResult {
  name: string;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The baseline's req/s in the same run. */
  baselineRequestsPerSec: number;
  /** Non-2xx answers and request errors in the measured window (0 when all went well). */
  failures: number;
  /** The server's user-mode CPU over the measured window, in % of one core (100 = one core). */
  serverCpuPercent: number;
  /** The server's CPU time, user and kernel, over the measured window ÷ the answers in it, in µs. */
  serverCpuMicrosPerRequest: number;
  /** The load generator's, likewise: both share the machine's cores. */
  loadGeneratorCpuPercent: number;
  /** Every other process's, likewise: well above 0 means the numbers were disturbed. */
  otherCpuPercent: number;
  /** The server's resident memory right after the scenario. */
  /** The server's processes' Pss summed: shared pages (the node binary) counted once. */
  serverPssMb: number;
  /** VmRSS summed over the server's processes: shared pages once per process. */
  serverRssMb: number;
  serverRssAnonMb: number;
  serverRssFileMb: number;
  /**
   * Rows on PostgreSQL: the server's CPU and memory columns include the PostgreSQL server's
   * processes (the postmaster and its children: backends, WAL writer, checkpointer), and this is
   * their share of `serverCpuMicrosPerRequest`.
   */
  databaseCpuMicrosPerRequest?: number;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

export function roundResult(result: ScenarioResult): ScenarioResult {
  return {
    ...result,
    requestsPerSec: Math.round(result.requestsPerSec),
    p50Ms: round(result.p50Ms, 2),
    p99Ms: round(result.p99Ms, 2),
    baselineRequestsPerSec: Math.round(result.baselineRequestsPerSec),
    serverCpuPercent: Math.round(result.serverCpuPercent),
    serverCpuMicrosPerRequest: Math.round(result.serverCpuMicrosPerRequest),
    ...(result.databaseCpuMicrosPerRequest === undefined ? {} : { databaseCpuMicrosPerRequest: Math.round(result.databaseCpuMicrosPerRequest) }),
    loadGeneratorCpuPercent: Math.round(result.loadGeneratorCpuPercent),
    otherCpuPercent: Math.round(result.otherCpuPercent),
  };
}

/** Under a table with PostgreSQL rows: what their server columns count. */
const DATABASE_NOTE =
  "¹ On the PostgreSQL rows the server's columns (CPU µs/req, user CPU % server, memory) are Keyhold's processes plus the " +
  "PostgreSQL server's: the postmaster's whole process tree (a backend per connection, WAL writer, checkpointer, …), read from /proc. " +
  'In brackets, the PostgreSQL server\'s share of the CPU µs/req.';

/**
 * A Markdown table: scenario, req/s, p50, p99, ratio to the baseline, CPU per request, CPU, RSS,
 * failures; with PostgreSQL rows, a note under it on what their server columns count.
 */
export function formatTable(results: ScenarioResult[]): string {
  const mark = results.some((result) => result.databaseCpuMicrosPerRequest !== undefined) ? '¹' : '';
  const rows = [
    `| scenario | req/s | p50 ms | p99 ms | × baseline | server CPU µs/req${mark} | user CPU % server${mark} / load gen / other | server memory MB${mark}: PSS (RSS: anon / file) | failures |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const ratio = r.requestsPerSec / r.baselineRequestsPerSec;
    rows.push(
      `| ${r.name} | ${Math.round(r.requestsPerSec)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${ratio.toFixed(2)} | ` +
        `${Math.round(r.serverCpuMicrosPerRequest)}${r.databaseCpuMicrosPerRequest === undefined ? '' : ` (PostgreSQL ${Math.round(r.databaseCpuMicrosPerRequest)})`} | ` +
        `${Math.round(r.serverCpuPercent)} / ${Math.round(r.loadGeneratorCpuPercent)} / ${Math.round(r.otherCpuPercent)} | ` +
        `${r.serverPssMb} (${r.serverRssMb}: ${r.serverRssAnonMb} / ${r.serverRssFileMb}) | ${r.failures} |`,
    );
  }
  if (mark) rows.push('', DATABASE_NOTE);
  return rows.join('\n');
}

export function writeResults(fileName: string, value: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${fileName}`;
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

/** Progress goes to stderr, so stdout carries only the table. */
export function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
