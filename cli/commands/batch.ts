import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BATCH_BODY_BYTES, MAX_BATCH_ITEMS } from '../../src/protocol/batch-limits.js';
import { withClient } from '../context.js';
import { UsageError } from '../errors.js';

/** What one batch request carries at most: the server's item count, and its body limit with room for the envelope. */
const MAX_ITEMS = MAX_BATCH_ITEMS;
const MAX_REQUEST_BYTES = BATCH_BODY_BYTES - 1024;

/** Some items of a `--batch` run failed: exit 1, naming their lines. */
export class BatchItemsFailed extends Error {
  override name = 'BatchItemsFailed';
}

/** One line of the file: the request to send, or why it cannot be sent. */
type Line = { number: number; request: object; bytes: number } | { number: number; error: { __type: string; message: string } };

/**
 * `keyhold encrypt --batch FILE.jsonl` and `keyhold decrypt --batch …`: each non-empty line a
 * JSON request of the single action, sent in batches of at most 1,000 items and 1 MiB; one
 * JSON answer per line on stdout, in the file's order (`{"Error": …}` for a failed one). A
 * line that is not a JSON object is answered ValidationException without being sent.
 *
 * @throws BatchItemsFailed after every answer is written, when an item failed
 */
export async function runBatch(command: Command, action: 'batchencrypt' | 'batchdecrypt', file: string): Promise<void> {
  const lines = readLines(file);
  if (lines.length === 0) throw new UsageError(`--batch ${file} has no lines`);
  const failed: number[] = [];
  await withClient(command, async (client) => {
    for (const group of groups(lines)) {
      const sent = group.filter((line): line is Extract<Line, { request: object }> => 'request' in line);
      const answers: unknown[] = sent.length === 0 ? [] : (await client.call<{ Results: unknown[] }>(action, { Items: sent.map((line) => line.request) })).Results;
      if (!Array.isArray(answers) || answers.length !== sent.length) throw new Error('The server did not answer every item');
      let next = 0;
      for (const line of group) {
        const answer = 'request' in line ? answers[next++] : { Error: line.error };
        if (typeof answer !== 'object' || answer === null || 'Error' in answer) failed.push(line.number);
        process.stdout.write(`${JSON.stringify(answer)}\n`);
      }
    }
  });
  if (failed.length > 0) {
    const shown = failed.slice(0, 20).join(', ') + (failed.length > 20 ? ', …' : '');
    throw new BatchItemsFailed(`${failed.length} of ${lines.length} items failed (line${failed.length === 1 ? '' : 's'} ${shown})`);
  }
}

/** The file's non-empty lines (`-` reads stdin), each parsed on its own. */
function readLines(file: string): Line[] {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  const lines: Line[] = [];
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === '') return;
    const number = index + 1;
    let request: unknown;
    try {
      request = JSON.parse(trimmed);
    } catch {
      lines.push({ number, error: { __type: 'ValidationException', message: `Line ${number} is not JSON` } });
      return;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      lines.push({ number, error: { __type: 'ValidationException', message: `Line ${number} is not a JSON object` } });
      return;
    }
    lines.push({ number, request, bytes: Buffer.byteLength(trimmed) + 1 });
  });
  return lines;
}

/** Consecutive lines in groups that each fit one request (a line over the limit goes alone, and the server refuses it). */
function* groups(lines: Line[]): Generator<Line[]> {
  let group: Line[] = [];
  let items = 0;
  let bytes = 0;
  for (const line of lines) {
    const size = 'request' in line ? line.bytes : 0;
    if (group.length > 0 && (items === MAX_ITEMS || bytes + size > MAX_REQUEST_BYTES)) {
      yield group;
      group = [];
      items = 0;
      bytes = 0;
    }
    group.push(line);
    if ('request' in line) items++;
    bytes += size;
  }
  if (group.length > 0) yield group;
}
