import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { KeyholdApiError, KeyholdClient, KeyholdConnectionError, type AuditEvent, type ListAuditEventsOptions } from '../../src/client/index.js';
import { connectionOptions, globalOptions, positiveInteger, printResult, renderTable } from '../context.js';
import type { OutputFormat } from '../output.js';
import { UsageError } from '../errors.js';
import { parseTimeArgument } from '../time-argument.js';
import { example } from './keys.js';

/** The server's largest page: fewest round trips when paging through everything. */
const PAGE_SIZE = 1000;
const FOLLOW_INTERVAL_MS = 1000;
const EVENT_COLUMNS = ['Time', 'Principal', 'Action', 'KeyId', 'Outcome', 'SourceIp'];
/** With --verify, the table says in words whether each record verifies. */
const VERIFIED_COLUMNS = [...EVENT_COLUMNS, 'Verified'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ListOptions {
  keyId?: string;
  principal?: string;
  action?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit?: number;
  marker?: string;
  maxItems?: number;
  pageSize?: number;
  startingToken?: string;
  follow?: boolean;
  verify?: boolean;
}

/** Where the records go as they arrive; `end` closes the output with where the listing stopped. */
interface EventSink {
  event(event: AuditEvent): Promise<void>;
  end(stop: PageStop): Promise<void>;
}

interface PageStop {
  marker?: string;
  truncated: boolean;
}

/** Writes to stdout; waits when the pipe is full, so a slow reader slows the listing, not memory. */
async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/**
 * json: the API's shape, `{"Events": [...], "Truncated", "NextMarker"}`, written as the records
 * arrive (one per line) so that a long trail needs no memory; jsonl: one record per line;
 * table: aligned columns, once everything is read.
 */
function sinkFor(format: OutputFormat, command: Command, verify: boolean): EventSink {
  const columns = verify ? VERIFIED_COLUMNS : EVENT_COLUMNS;
  if (format === 'text' || globalOptions(command).query !== undefined) {
    // Text and --query shape the whole answer, so it is gathered first.
    const events: AuditEvent[] = [];
    return {
      event: async (event) => void events.push(event),
      end: async ({ marker, truncated }) => {
        const answer = { Events: events, Truncated: truncated, ...(marker ? { NextMarker: marker } : {}), ...(truncated && marker ? { NextToken: marker } : {}) };
        printResult(command, answer, { rows: events as unknown as Record<string, unknown>[], columns });
      },
    };
  }
  if (format === 'jsonl') return { event: (event) => write(JSON.stringify(event) + '\n'), end: async () => {} };
  if (format === 'table') {
    const rows: AuditEvent[] = [];
    return {
      event: async (event) => void rows.push(event),
      end: async ({ marker, truncated }) => {
        const cells = rows.map((row) => ({ ...row, KeyId: keyCell(row), ...(verify ? { Verified: verifiedWords(row.Verified) } : {}) }));
        await write(renderTable(cells as unknown as Record<string, unknown>[], columns) + '\n');
        if (truncated && marker) await write(`(more: add --marker ${marker})\n`);
      },
    };
  }
  let count = 0;
  return {
    event: (event) => write(`${count++ === 0 ? '{\n  "Events": [\n    ' : ',\n    '}${JSON.stringify(event)}`),
    end: ({ marker, truncated }) =>
      write(`${count === 0 ? '{\n  "Events": [' : '\n  '}],\n  "Truncated": ${truncated}${marker ? `,\n  "NextMarker": ${JSON.stringify(marker)}` : ''}${truncated && marker ? `,\n  "NextToken": ${JSON.stringify(marker)}` : ''}\n}\n`),
  };
}

/** The table's key: a batch's record whose items used several keys says how many items it lists. */
function keyCell(event: AuditEvent): string | null {
  return event.KeyId === null && event.Items ? `(${event.Items.length} items)` : event.KeyId;
}

function verifiedWords(verified: boolean | undefined): string {
  return verified === true ? 'verified' : verified === false ? 'DOES NOT VERIFY' : '';
}

/**
 * Reads every record that matches `query` from its marker on, at most `limit`, into `sink`,
 * a page at a time. Returns where it stopped: the marker to go on from, and whether more exist.
 */
async function readRecords(client: KeyholdClient, query: ListAuditEventsOptions, sink: EventSink, limit = Number.POSITIVE_INFINITY, pageSize = PAGE_SIZE): Promise<PageStop> {
  let marker = query.marker;
  let remaining = limit;
  for (;;) {
    const page = await client.listAuditEvents({ ...query, marker, limit: Math.min(pageSize, remaining) });
    for (const event of page.events) await sink.event(event);
    remaining -= page.events.length;
    // A marker that does not move would page forever: stop there (the server always moves it).
    const moved = page.nextMarker !== undefined && page.nextMarker !== marker;
    marker = page.nextMarker ?? marker;
    if (!page.truncated || remaining <= 0 || !moved) return { marker, truncated: page.truncated };
  }
}

/** A failure a follower waits out (the server restarting, a 503 while the trail cannot be written). */
function isTransient(error: unknown): boolean {
  return error instanceof KeyholdConnectionError || (error instanceof KeyholdApiError && error.status >= 500);
}

/**
 * Polls every second from `marker` on, printing new records as they come, until a signal ends
 * the process. Transient failures are reported once on stderr and retried; others end it (exit 1).
 */
async function follow(client: KeyholdClient, query: ListAuditEventsOptions, marker: string | undefined, sink: EventSink): Promise<never> {
  let failing = false;
  for (;;) {
    await sleep(FOLLOW_INTERVAL_MS);
    try {
      marker = (await readRecords(client, { ...query, marker }, sink)).marker;
      if (failing) process.stderr.write('keyhold: audit list --follow: reading again\n');
      failing = false;
    } catch (error) {
      if (!isTransient(error)) throw error;
      const { type, code, message } = error as { type?: string; code?: string; message: string };
      if (!failing) process.stderr.write(`keyhold: audit list --follow: ${type ?? code ?? 'Error'}: ${message}; retrying every second\n`);
      failing = true;
    }
  }
}

/** The request's filters; `now` anchors relative times, once, so that a page does not move them. */
function auditQuery(options: ListOptions, now: Date): ListAuditEventsOptions {
  const startTime = options.since === undefined ? undefined : parseTimeArgument('--since', options.since, now);
  const endTime = options.until === undefined ? undefined : parseTimeArgument('--until', options.until, now);
  /* Precondition: the window is not empty by construction. */
  if (startTime && endTime && endTime < startTime) throw new UsageError('--until is before --since');
  if (options.limit === 0) throw new UsageError('--limit must be at least 1');
  if (options.maxItems === 0) throw new UsageError('--max-items must be at least 1');
  if (options.pageSize !== undefined && (options.pageSize < 1 || options.pageSize > PAGE_SIZE)) throw new UsageError(`--page-size must be from 1 to ${PAGE_SIZE}`);
  /* Precondition: the aws CLI's names and the API's are one setting each: not both. */
  if (options.limit !== undefined && options.maxItems !== undefined) throw new UsageError('give --max-items or --limit, not both');
  if (options.marker !== undefined && options.startingToken !== undefined) throw new UsageError('give --starting-token or --marker, not both');
  const marker = options.startingToken ?? options.marker;
  /* Precondition: a follower reads to the end and waits for more: no last time, no count. */
  if (options.follow && (endTime || options.limit !== undefined || options.maxItems !== undefined)) throw new UsageError('--follow takes no --until and no --limit');
  return {
    ...(startTime ? { startTime } : {}),
    ...(endTime ? { endTime } : {}),
    ...(options.principal === undefined ? {} : { principal: options.principal }),
    ...(options.action === undefined ? {} : { action: options.action }),
    ...(options.outcome === undefined ? {} : { outcome: options.outcome }),
    ...(marker === undefined ? {} : { marker }),
    ...(options.verify ? { verify: true } : {}),
  };
}

function chosenFormat(command: Command, follow: boolean): OutputFormat {
  const { output: chosen, query } = globalOptions(command);
  if (follow && query !== undefined) throw new UsageError('--follow writes each record whole: leave out --query');
  /* Precondition: --follow writes one JSON record per line, as a SIEM pipe expects. */
  if (follow && chosen !== undefined && chosen !== 'jsonl') throw new UsageError('--follow writes JSON lines: give --output jsonl or no --output');
  return chosen ?? (follow ? 'jsonl' : process.stdout.isTTY ? 'table' : 'json');
}

/** Records name keys by UUID: any other form (alias/…, an ARN) is resolved to the key it names now. */
async function recordKeyId(client: KeyholdClient, keyId: string): Promise<string> {
  return UUID.test(keyId) ? keyId.toLowerCase() : (await client.describeKey(keyId)).KeyId;
}

/**
 * A reader gone (`| head`, the SIEM shipper stopped) ends the listing quietly with exit 0; so do
 * Ctrl-C and SIGTERM for a follower, whose only way to stop they are.
 */
function exitQuietlyOnStop(follow: boolean): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  if (follow) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
}

async function listAuditEvents(options: ListOptions, self: Command): Promise<void> {
  const query = auditQuery(options, new Date());
  const format = chosenFormat(self, options.follow === true);
  const client = new KeyholdClient(connectionOptions(globalOptions(self)));
  exitQuietlyOnStop(options.follow === true);
  try {
    if (options.keyId !== undefined) query.keyId = await recordKeyId(client, options.keyId);
    const sink = sinkFor(format, self, options.verify === true);
    const stop = await readRecords(client, query, sink, options.maxItems ?? options.limit, options.pageSize);
    if (options.follow) await follow(client, query, stop.marker, sink);
    await sink.end(stop);
  } finally {
    client.close();
  }
}

export function auditCommand(): Command {
  const audit = new Command('audit').description('the audit trail: who did what to which key, when, from where, and the outcome');
  example(audit.command('list'), 'keyhold audit list --principal KHABCDEFGHIJKLMNOPQR --since 2h\n' +
    '  $ keyhold audit list --key-id alias/orders --outcome AccessDeniedException --since 2026-12-01 --until 2026-12-04\n' +
    '  $ keyhold audit list --since 5m --follow | ship-to-siem')
    .description('list audit records, oldest first: every one that matches, paging through the trail')
    .option('--key-id <key>', 'records of this key (its UUID, or alias/… resolved to the key it names now)')
    .option('--principal <id>', 'records of this access key id (or go-kms-legacy, system, anonymous)')
    .option('--action <name>', 'records of this action, e.g. Encrypt (any case)')
    .option('--outcome <outcome>', 'Success, or an error type such as AccessDeniedException')
    .option('--since <time>', 'from this time: ISO 8601, or a time ago such as 15m, 2h, 7d')
    .option('--until <time>', 'up to this time: ISO 8601, or a time ago such as 15m, 2h, 7d')
    .option('--max-items <n>', 'at most N records (default: all); when more remain, the answer\'s NextToken goes on from there', positiveInteger)
    .option('--starting-token <token>', 'go on from the NextToken (or NextMarker) of an earlier listing')
    .option('--page-size <n>', `records per request (1..${PAGE_SIZE}, default ${PAGE_SIZE}); all are listed either way`, positiveInteger)
    .option('--limit <n>', 'the same as --max-items', positiveInteger)
    .option('--marker <marker>', 'the same as --starting-token')
    .option('--follow', 'after the records so far, print new ones as JSON lines every second until interrupted')
    .option('--verify', 'mark each record verified or not: its MAC is right and it follows the record before it (records removed from the end need "keyhold admin audit verify")')
    .action(listAuditEvents);
  return audit;
}
