import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { nonRegularFileKind } from '../src/client/file-envelope-atomic.js';
import { KeyholdClient, type KeyholdClientOptions } from '../src/client/index.js';
import { writeFileDurably } from '../src/durable-file.js';
import { isCiphertextFormat } from '../src/crypto/ciphertext-codec.js';
import { isStandardBase64 } from '../src/protocol/base64.js';
import { resolveConnection } from './connection.js';
import { noteCall, UsageError } from './errors.js';
import { answerAskedFor, outputFormat, renderResult, type OutputFormat, type Table } from './output.js';
import { readConfig } from './profiles.js';

export { renderTable } from './output.js';

/** The options every command accepts (defined on the root command). */
export interface GlobalOptions {
  url?: string;
  profile?: string;
  credentials?: string;
  caCert?: string;
  insecure?: boolean;
  output?: OutputFormat;
  query?: string;
  verbose?: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/**
 * Where to connect and with which credential: one source, whole (cli/connection.ts). Prints on
 * stderr which file was used when it is the working directory's ./data/admin.credentials.
 */
export function connectionOptions(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): KeyholdClientOptions {
  const { client, notices, from } = resolveConnection(options, env, readConfig().profiles);
  for (const notice of notices) process.stderr.write(`${notice}\n`);
  noteCall({ url: client.url, from });
  return client;
}

export async function withClient<T>(command: Command, work: (client: KeyholdClient) => Promise<T>): Promise<T> {
  noteCall({ command: command.name() });
  const client = new KeyholdClient(connectionOptions(globalOptions(command)));
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** `k=v` pairs (repeatable option) as an object; the first `=` splits. */
export function collectPairs(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at < 1) throw new UsageError(`expected key=value, got '${value.slice(0, 64)}'`);
  return Object.fromEntries([...Object.entries(previous), [value.slice(0, at), value.slice(at + 1)]]);
}

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`expected a whole number, got '${value.slice(0, 32)}'`);
  return Number(value);
}

/** Reads the input bytes: --plaintext text, --in FILE, or stdin. */
export async function readInput(options: { plaintext?: string; in?: string }): Promise<Buffer> {
  if (options.plaintext !== undefined && options.in !== undefined) throw new UsageError('give --plaintext or --in, not both');
  if (options.plaintext !== undefined) return Buffer.from(options.plaintext, 'utf8');
  if (options.in !== undefined) return readFileSync(options.in);
  if (process.stdin.isTTY) throw new UsageError('no input: give --plaintext, --in FILE, or pipe the data to stdin');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A ciphertext blob as given: raw bytes (a blob starts with its format byte, 0x01 or 0x02,
 * which is no base64 character) or the base64 text `--base64` printed.
 */
export function blobFromInput(bytes: Buffer): Buffer {
  if (isCiphertextFormat(bytes[0])) return bytes;
  const text = bytes.toString('utf8').trim();
  if (text === '' || !isStandardBase64(text)) throw new UsageError('the input is neither a ciphertext blob nor its base64');
  return Buffer.from(text, 'base64');
}

/**
 * Writes bytes: to --out FILE, or stdout raw, or as base64 with --base64. A file is written
 * whole or not at all, through a new 0600 temp file renamed over FILE, so FILE must be absent
 * or a regular file: the rename would replace a symlink such as /dev/stdout, not write through it.
 */
export function writeOutput(bytes: Buffer, options: { out?: string; base64?: boolean }): void {
  const data = options.base64 ? Buffer.from(bytes.toString('base64') + '\n') : bytes;
  if (options.out === undefined) {
    process.stdout.write(data);
    return;
  }
  const kind = nonRegularFileKind(options.out);
  /* Precondition: --out is absent or a regular file. */
  if (kind !== undefined) throw new UsageError(`--out ${options.out} exists and is ${kind}, not a regular file: leave out --out to write to stdout`);
  writeFileDurably(options.out, data);
}

/**
 * Structured answers: JSON when piped, a table on a terminal, or as --output says, after
 * --query. A command whose answer has nothing the caller did not know (enable, tag, delete…)
 * passes `quiet`, and prints only when --output or --query asks for the answer.
 */
export function printResult(command: Command, value: unknown, table?: Table, options: { quiet?: boolean } = {}): void {
  if (options.quiet && !answerAskedFor(command)) return;
  const rendered = renderResult(command, value, table);
  // Text output of nothing (an empty list, a --query that matched nothing) is no line at all.
  if (rendered === '' && outputFormat(command) === 'text') return;
  console.log(rendered);
}
