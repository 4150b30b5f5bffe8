import type { Command } from 'commander';
import type { KeyholdClient } from '../src/client/index.js';
import { positiveInteger } from './context.js';
import { UsageError } from './errors.js';

/**
 * Paging of the list commands as the aws CLI does it: every page by default, --max-items to
 * stop early (the answer then carries a NextToken), --starting-token to go on from one, and
 * --page-size for the size of each request. --limit and --marker, the API's own fields, still
 * ask for exactly one page, as they always did.
 */
export interface PagingOptions {
  maxItems?: number;
  pageSize?: number;
  startingToken?: string;
  limit?: number;
  marker?: string;
}

/** Adds the paging options; `largestPage` is the server's largest Limit for this listing. */
export function addPagingOptions(command: Command, largestPage: number, noun: string): Command {
  return command
    .option('--max-items <n>', `at most N ${noun} in all; when more remain, the answer's NextToken goes on from there`, positiveInteger)
    .option('--page-size <n>', `${noun} per request (1..${largestPage}, default ${largestPage}); all are listed either way`, positiveInteger)
    .option('--starting-token <token>', 'go on from the NextToken of an earlier listing')
    .option('--limit <n>', `one page of at most N ${noun} (1..${largestPage}), answered as the API does: Truncated, NextMarker`, positiveInteger)
    .option('--marker <marker>', 'one page from the NextMarker of an earlier page');
}

/** The page size to ask for, checked before anything is sent. */
function checkedPageSize(options: PagingOptions, largestPage: number): number {
  const size = options.pageSize ?? largestPage;
  /* Precondition: a page size the server accepts. */
  if (size < 1 || size > largestPage) throw new UsageError(`--page-size must be from 1 to ${largestPage}`);
  if (options.maxItems === 0) throw new UsageError('--max-items must be at least 1');
  return size;
}

/**
 * Lists everything `action` answers, a page at a time, under `field` (Keys, Aliases…). Each
 * request asks for no more than --max-items still allows, so the list is never cut inside a
 * page and the NextToken is the server's own marker.
 */
export async function listAll(
  client: KeyholdClient,
  action: string,
  body: Record<string, unknown>,
  field: string,
  options: PagingOptions,
  largestPage: number,
): Promise<Record<string, unknown>> {
  const paging = options.maxItems !== undefined || options.pageSize !== undefined || options.startingToken !== undefined;
  if (options.limit !== undefined || options.marker !== undefined) {
    /* Precondition: one kind of paging: a page by hand, or the CLI paging through. */
    if (paging) throw new UsageError('--limit and --marker ask for one page; --max-items, --page-size and --starting-token page through: give one kind');
    if (options.limit !== undefined && options.limit > largestPage) throw new UsageError(`--limit must be from 1 to ${largestPage}`);
    return client.call(action, { ...body, Limit: options.limit, Marker: options.marker });
  }
  const size = checkedPageSize(options, largestPage);
  const items: unknown[] = [];
  let marker = options.startingToken;
  let remaining = options.maxItems ?? Number.POSITIVE_INFINITY;
  for (;;) {
    const page = await client.call<Record<string, unknown>>(action, { ...body, Limit: Math.min(size, remaining), Marker: marker });
    const found = Array.isArray(page[field]) ? (page[field] as unknown[]) : [];
    items.push(...found);
    remaining -= found.length;
    const next = typeof page.NextMarker === 'string' ? page.NextMarker : undefined;
    // A marker that does not move would page forever: stop there (the server always moves it).
    if (page.Truncated !== true || next === undefined || next === marker) return { [field]: items };
    marker = next;
    if (remaining <= 0) return { [field]: items, NextToken: marker };
  }
}
