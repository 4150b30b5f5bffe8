import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { KeyholdApiError, type KeyholdClient, type MacAlgorithm } from '../../src/client/index.js';
import { isMacAlgorithm, MAC_ALGORITHMS, MAX_MAC_MESSAGE_BYTES } from '../../src/crypto/mac.js';
import { isStandardBase64 } from '../../src/protocol/base64.js';
import { printResult, readInput, withClient, writeOutput } from '../context.js';
import { UsageError } from '../errors.js';

/** A --algorithm value, checked against AWS KMS's names before anything is sent. */
function parseMacAlgorithm(value: string): MacAlgorithm {
  const name = value.toUpperCase();
  if (!isMacAlgorithm(name)) throw new UsageError(`unknown MAC algorithm '${value.slice(0, 64)}' (one of ${MAC_ALGORITHMS.join(', ')})`);
  return name;
}

/** The algorithm asked for, or the key's one (each HMAC spec has one; one describekey call). */
async function resolveMacAlgorithm(client: KeyholdClient, keyId: string, requested?: MacAlgorithm): Promise<MacAlgorithm> {
  if (requested !== undefined) return requested;
  const key = await client.describeKey(keyId);
  const algorithm = key.MacAlgorithms?.[0];
  if (algorithm === undefined) throw new UsageError(`key ${keyId} is ${key.KeySpec} ${key.KeyUsage}, not an HMAC key (GENERATE_VERIFY_MAC)`);
  return algorithm;
}

function withMessage(command: Command): Command {
  return command
    .requiredOption('--key-id <key>', 'KeyId, keyhold:key/…, or alias/… of an HMAC key')
    .option('--algorithm <alg>', "MAC algorithm: HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384 or HMAC_SHA_512 (default: the key's)", parseMacAlgorithm)
    .option('--in <file>', `read the message from a file, 1 to ${MAX_MAC_MESSAGE_BYTES} bytes (default: stdin)`);
}

export function macCommands(): Command[] {
  const mac = withMessage(new Command('mac'))
    .description('compute the HMAC of a message with an HMAC key; prints the MAC')
    .option('--out <file>', 'write the MAC to a file (default: stdout)')
    .option('--base64', 'write the MAC as base64 text instead of raw bytes')
    .addHelpText('after', '\nExample:\n  $ keyhold mac --key-id alias/tokens --in token.json --out token.mac')
    .action(async (options, command: Command) => {
      const message = await readInput({ in: options.in });
      const answer = await withClient(command, async (client) => {
        const macAlgorithm = await resolveMacAlgorithm(client, options.keyId, options.algorithm);
        return client.generateMac({ keyId: options.keyId, message, macAlgorithm });
      });
      writeOutput(answer.mac, options);
    });

  const verifyMac = withMessage(new Command('verify-mac'))
    .description('check a MAC with an HMAC key: exit 0 when valid, 1 when not')
    .option('--mac <file>', 'the MAC, raw bytes')
    .option('--mac-base64 <b64>', 'the MAC as base64 text')
    .addHelpText('after', '\nExample:\n  $ keyhold verify-mac --key-id alias/tokens --in token.json --mac token.mac')
    .action(async (options, command: Command) => {
      const macBytes = readMac(options);
      const message = await readInput({ in: options.in });
      const result = await withClient(command, async (client) => {
        const macAlgorithm = await resolveMacAlgorithm(client, options.keyId, options.algorithm);
        return client.verifyMac({ keyId: options.keyId, message, mac: macBytes, macAlgorithm });
      });
      if (!result.macValid) {
        // The same line the server's refusal would print, as `keyhold verify` does for signatures.
        throw new KeyholdApiError('KMSInvalidMacException', 400, `the MAC does not verify with key ${options.keyId} and ${result.macAlgorithm}`);
      }
      printResult(command, { KeyId: result.keyId, MacValid: true, MacAlgorithm: result.macAlgorithm });
    });

  return [mac, verifyMac];
}

function readMac(options: { mac?: string; macBase64?: string }): Buffer {
  if ((options.mac === undefined) === (options.macBase64 === undefined)) {
    throw new UsageError('give the MAC with --mac FILE or --mac-base64 B64 (one of them)');
  }
  if (options.mac !== undefined) return readFileSync(options.mac);
  const text = options.macBase64!.trim();
  if (text === '' || !isStandardBase64(text)) throw new UsageError('--mac-base64 is not standard base64');
  return Buffer.from(text, 'base64');
}
