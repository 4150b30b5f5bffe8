import { Command } from 'commander';

// Loaded when a file command runs, not at every start of the CLI.
const envelope = () => import('../../src/client/file-envelope.js');
import { collectPairs, withClient } from '../context.js';

export function fileCommands(): Command[] {
  const encryptFile = new Command('encrypt-file')
    .description('encrypt a file of any size: one data key per file, AES-256-GCM chunks (format in the README)')
    .argument('<in>', 'file to encrypt')
    .argument('<out>', 'encrypted file to write')
    .requiredOption('--key-id <key>', 'the key that wraps the file\'s data key')
    .option('--context <key=value>', 'encryption context pair, stored in the file header (repeatable)', collectPairs)
    .addHelpText('after', '\nExample:\n  $ keyhold encrypt-file backup.tar backup.tar.khf --key-id alias/backups --context host=db1')
    .action(async (input: string, output: string, options, command: Command) => {
      const { encryptFileAtPath } = await envelope();
      await withClient(command, (client) =>
        encryptFileAtPath(input, output, {
          encryptionContext: options.context,
          generateDataKey: async (encryptionContext: Record<string, string> | undefined) => {
            const key = await client.generateDataKey({ keyId: options.keyId, keySpec: 'AES_256', encryptionContext });
            return { plaintext: key.plaintext, ciphertextBlob: key.ciphertextBlob };
          },
        }),
      );
    });

  const decryptFile = new Command('decrypt-file')
    .description('decrypt a file made by encrypt-file; OUT appears only once every byte is authenticated')
    .argument('<in>', 'encrypted file')
    .argument('<out>', 'plaintext file to write (mode 0600)')
    .option('--context <key=value>', 'require this encryption context in the file (repeatable)', collectPairs)
    .addHelpText('after', '\nExample:\n  $ keyhold decrypt-file backup.tar.khf backup.tar --context host=db1')
    .action(async (input: string, output: string, options, command: Command) => {
      const { decryptFileAtPath } = await envelope();
      await withClient(command, (client) =>
        decryptFileAtPath(input, output, {
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
        }),
      );
    });

  return [encryptFile, decryptFile];
}

function sameContext(expected: Record<string, string>, actual: Record<string, string>): boolean {
  const keys = Object.keys(expected);
  return keys.length === Object.keys(actual).length && keys.every((key) => Object.hasOwn(actual, key) && actual[key] === expected[key]);
}
