import { open, stat, type FileHandle } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { Command } from 'commander';
import { checkOutputPath, writeFileAtomically } from '../../src/client/file-envelope-atomic.js';
import { writeAll } from '../../src/client/file-envelope-blocks.js';
import { collectPairs, withClient } from '../context.js';
import { UsageError } from '../errors.js';
import { PROGRESS_THRESHOLD, progressWanted, startProgress, type Progress } from '../progress.js';

// Loaded when a file command runs, not at every start of the CLI.
const envelope = () => import('../../src/client/file-envelope.js');

/** IN or OUT written as `-`: stdin or stdout. */
const STDIO = '-';
const READ_SIZE = 128 * 1024;
const NO_PROGRESS = `no progress line on stderr (shown only when stderr is a terminal and the input is over ${PROGRESS_THRESHOLD / 1024 / 1024} MiB)`;

export function fileCommands(): Command[] {
  const encryptFile = new Command('encrypt-file')
    .description('encrypt a file of any size: one data key per file, AES-256-GCM chunks (format in docs/formats.md)')
    .argument('<in>', 'file to encrypt, or - for stdin')
    .argument('<out>', 'encrypted file to write, or - for stdout')
    .requiredOption('--key-id <key>', 'the key that wraps the file\'s data key')
    .option('--context <key=value>', 'encryption context pair, stored in the file header (repeatable)', collectPairs)
    .option('--no-progress', NO_PROGRESS)
    .addHelpText('after', '\nExamples:\n  $ keyhold encrypt-file backup.tar backup.tar.khf --key-id alias/backups --context host=db1\n  $ tar c /srv/db | keyhold encrypt-file - - --key-id alias/backups > db.tar.khf')
    .action(async (input: string, output: string, options, command: Command) => {
      /* Precondition: the encrypted file does not go to a terminal. */
      if (output === STDIO && process.stdout.isTTY) throw new UsageError('refusing to write an encrypted file to a terminal: redirect stdout or give OUT');
      const { encryptFile, encryptFileAtPath } = await envelope();
      const progress = await progressFor(command.name(), input, output, options.progress);
      await withClient(command, (client) => {
        const settings = {
          encryptionContext: options.context,
          generateDataKey: async (encryptionContext: Record<string, string> | undefined) => {
            const key = await client.generateDataKey({ keyId: options.keyId, keySpec: 'AES_256', encryptionContext });
            return { plaintext: key.plaintext, ciphertextBlob: key.ciphertextBlob };
          },
        };
        if (input !== STDIO && output !== STDIO && !progress) return encryptFileAtPath(input, output, settings);
        return throughStreams(input, output, (source, sink) => encryptFile(source, sink, settings), progress);
      });
    });

  const decryptFile = new Command('decrypt-file')
    .description('decrypt a file made by encrypt-file; a file OUT appears only once every byte is authenticated')
    .argument('<in>', 'encrypted file, or - for stdin')
    .argument('<out>', 'plaintext file to write (mode 0600), or - for stdout (see docs/cli.md: a damaged file leaves a prefix there)')
    .option('--context <key=value>', 'require this encryption context in the file (repeatable)', collectPairs)
    .option('--no-progress', NO_PROGRESS)
    .addHelpText('after', '\nExamples:\n  $ keyhold decrypt-file backup.tar.khf backup.tar --context host=db1\n  $ keyhold decrypt-file db.tar.khf - | tar t     # check the exit status: see docs/cli.md')
    .action(async (input: string, output: string, options, command: Command) => {
      const { decryptFile, decryptFileAtPath } = await envelope();
      const progress = await progressFor(command.name(), input, output, options.progress);
      await withClient(command, (client) => {
        const settings = {
          decrypt: async (ciphertextBlob: Buffer, encryptionContext: Record<string, string> | undefined) => {
            // Anyone who may make data keys under this key can write a file with any context:
            // when the caller says which context to expect, a file with another is refused.
            if (options.context && !sameContext(options.context, encryptionContext ?? {})) {
              throw Object.assign(new Error("the file's encryption context is not the one given with --context"), {
                code: 'ERR_KEYHOLD_FILE_CONTEXT_MISMATCH',
              });
            }
            return (await client.decrypt({ ciphertextBlob, encryptionContext })).plaintext;
          },
        };
        if (input !== STDIO && output !== STDIO && !progress) return decryptFileAtPath(input, output, settings);
        // To stdout, each chunk is written once it authenticated; a truncated or altered file
        // still fails at the end (exit 1), after the authenticated chunks before the damage.
        return throughStreams(input, output, (source, sink) => decryptFile(source, sink, settings), progress);
      });
    });

  return [encryptFile, decryptFile];
}

/**
 * The progress line for IN, when one is wanted (a terminal, no --no-progress) and IN is stdin
 * or a file over the threshold; undefined otherwise, and then the fast file-to-file path runs.
 * None when the output itself goes to the terminal: the line would be drawn over it (as curl).
 */
async function progressFor(label: string, input: string, output: string, option: boolean | undefined): Promise<Progress | undefined> {
  if (!progressWanted(option) || (output === STDIO && process.stdout.isTTY)) return undefined;
  if (input === STDIO) return startProgress(label, undefined);
  // A missing IN is reported by the command itself, as without a progress line.
  const size = await stat(input).then((info) => (info.isFile() ? info.size : undefined), () => undefined);
  return size !== undefined && size > PROGRESS_THRESHOLD ? startProgress(label, size) : undefined;
}

/**
 * Runs `work` from IN to OUT through streams (either is `-`, or a progress line counts the
 * input): stdin and stdout as they are, a file IN opened first, a file OUT written through a
 * temporary file renamed over it once `work` is done, so it appears whole or not at all.
 */
async function throughStreams<T>(input: string, output: string, work: (source: Readable, sink: Writable) => Promise<T>, progress?: Progress): Promise<T> {
  /* Precondition: stdin is a pipe or a file when IN is -. */
  if (input === STDIO && process.stdin.isTTY) throw new UsageError('IN is - but stdin is a terminal: pipe or redirect the file in');
  if (output !== STDIO) checkOutputPath(output);
  const inputFile = input === STDIO ? undefined : await open(input, 'r');
  try {
    const bytes = inputFile ? Readable.from(readChunks(inputFile)) : process.stdin;
    const source = progress ? Readable.from(counted(bytes, progress)) : bytes;
    const result = output === STDIO ? await work(source, process.stdout) : await writeFileAtomically(output, (file) => work(source, fileSink(file)));
    progress?.finish(true);
    return result;
  } catch (error) {
    progress?.finish(false);
    throw error;
  } finally {
    await inputFile?.close();
  }
}

async function* counted(source: AsyncIterable<Buffer>, progress: Progress): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    progress.advance(chunk.length);
    yield chunk;
  }
}

// The file handles stay ours to sync and close: fs streams with autoClose off never report
// that they finished, so pipeline would wait for them forever.
async function* readChunks(file: FileHandle): AsyncGenerator<Buffer> {
  for (;;) {
    const buffer = Buffer.allocUnsafe(READ_SIZE);
    const { bytesRead } = await file.read(buffer, 0, READ_SIZE, null);
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
  }
}

function fileSink(file: FileHandle): Writable {
  return new Writable({
    writev: (chunks, done) => void writeAll(file, chunks.map(({ chunk }) => chunk as Buffer)).then(() => done(), done),
  });
}

function sameContext(expected: Record<string, string>, actual: Record<string, string>): boolean {
  const keys = Object.keys(expected);
  return keys.length === Object.keys(actual).length && keys.every((key) => Object.hasOwn(actual, key) && actual[key] === expected[key]);
}
