import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { KeyholdApiError, type GetPublicKeyResult, type KeyholdClient, type MessageType } from '../../src/client/index.js';
import {
  MAX_RAW_MESSAGE_BYTES,
  SIGNING_ALGORITHMS,
  isSigningAlgorithm,
  signingHash,
  type SigningAlgorithm,
} from '../../src/crypto/asymmetric-algorithms.js';
import { isStandardBase64 } from '../../src/protocol/base64.js';
import { printResult, readInput, withClient, writeOutput } from '../context.js';
import { UsageError } from '../errors.js';

/**
 * The algorithm a key signs with when none is asked for: the one every verifier understands.
 * RSA gets PKCS#1 v1.5 rather than PSS for the widest compatibility (old TLS stacks, Java 8).
 */
const DEFAULT_SIGNING_ALGORITHM: Record<string, SigningAlgorithm> = {
  ECC_NIST_P256: 'ECDSA_SHA_256',
  ECC_NIST_P384: 'ECDSA_SHA_384',
  RSA_2048: 'RSASSA_PKCS1_V1_5_SHA_256',
  RSA_3072: 'RSASSA_PKCS1_V1_5_SHA_256',
  RSA_4096: 'RSASSA_PKCS1_V1_5_SHA_256',
};

/** A --algorithm value, checked against AWS KMS's names before anything is sent. */
export function parseSigningAlgorithm(value: string): SigningAlgorithm {
  const name = value.toUpperCase();
  if (!isSigningAlgorithm(name)) throw new UsageError(`unknown signing algorithm '${value.slice(0, 64)}' (one of ${SIGNING_ALGORITHMS.join(', ')})`);
  return name;
}

/**
 * The algorithm to sign with: the one asked for, or the key's default (or, when the key does
 * not offer the default, the first it offers). Refuses a key that
 * cannot sign, or an algorithm the key does not offer, before anything is signed.
 */
export function chooseSigningAlgorithm(key: GetPublicKeyResult, requested?: SigningAlgorithm): SigningAlgorithm {
  /* Precondition: only a SIGN_VERIFY key signs. */
  if (key.keyUsage !== 'SIGN_VERIFY') throw new UsageError(`key ${key.keyId} is for ${key.keyUsage}, not SIGN_VERIFY`);
  const preferred = DEFAULT_SIGNING_ALGORITHM[key.keySpec];
  // A remote key may offer one algorithm only (a GCP RSA_SIGN_PSS_… key signs PSS): then that one.
  const fallback = preferred !== undefined && key.signingAlgorithms.length > 0 && !key.signingAlgorithms.includes(preferred) ? key.signingAlgorithms[0] : preferred;
  const algorithm = requested ?? (fallback as SigningAlgorithm | undefined);
  if (algorithm === undefined) throw new UsageError(`key ${key.keyId} (${key.keySpec}) has no default signing algorithm; give --algorithm`);
  /* Precondition: the key offers the algorithm (an ECC P-256 key signs ECDSA_SHA_256 only). */
  if (key.signingAlgorithms.length > 0 && !key.signingAlgorithms.includes(algorithm)) {
    throw new UsageError(`key ${key.keyId} (${key.keySpec}) does not sign with ${algorithm}; it offers ${key.signingAlgorithms.join(', ')}`);
  }
  return algorithm;
}

/**
 * What to send for a message: RAW up to the server's 4096-byte limit; a longer RAW message is
 * hashed here and sent as DIGEST, which signs the same bytes (the server would hash it alike).
 */
export function messageToSend(message: Buffer, messageType: MessageType, algorithm: SigningAlgorithm): { message: Buffer; messageType: MessageType } {
  if (messageType === 'RAW' && message.length > MAX_RAW_MESSAGE_BYTES) {
    return { message: createHash(signingHash(algorithm)).update(message).digest(), messageType: 'DIGEST' };
  }
  return { message, messageType };
}

async function resolveAlgorithm(client: KeyholdClient, keyId: string, requested?: SigningAlgorithm): Promise<SigningAlgorithm> {
  // With --algorithm the server checks it; without, the key's spec decides (one extra call).
  return requested ?? chooseSigningAlgorithm(await client.getPublicKey(keyId));
}

function parseMessageType(value: string): MessageType {
  const type = value.toUpperCase();
  if (type !== 'RAW' && type !== 'DIGEST') throw new UsageError(`--message-type is raw or digest, not '${value.slice(0, 32)}'`);
  return type;
}

function withMessage(command: Command): Command {
  return command
    .requiredOption('--key-id <key>', 'KeyId, keyhold:key/…, or alias/… of a SIGN_VERIFY key')
    .option('--algorithm <alg>', "signing algorithm, e.g. ECDSA_SHA_256, RSASSA_PSS_SHA_256 (default: the key's: ECDSA_SHA_256 for P-256, ECDSA_SHA_384 for P-384, RSASSA_PKCS1_V1_5_SHA_256 for RSA)", parseSigningAlgorithm)
    .addOption(new Option('--message-type <type>', 'raw: the message itself; digest: its hash, exactly the algorithm\'s hash length').default('RAW', 'raw').argParser(parseMessageType))
    .option('--in <file>', 'read the message from a file (default: stdin)');
}

const LONG_MESSAGE_HELP =
  `\nA raw message longer than ${MAX_RAW_MESSAGE_BYTES} bytes is hashed locally and sent as a digest; ` +
  'the signature is the same as for the raw message.';

export function asymmetricCommands(): Command[] {
  const pubkey = new Command('pubkey')
    .description('print the public key of an asymmetric key (PEM, or DER with --der)')
    .requiredOption('--key-id <key>', 'KeyId, keyhold:key/…, or alias/…')
    .option('--der', 'write DER SubjectPublicKeyInfo bytes instead of PEM')
    .option('--out <file>', 'write to a file (default: stdout)')
    .addHelpText('after', '\nExample:\n  $ keyhold pubkey --key-id alias/signing --out signing.pub.pem')
    .action(async (options, command: Command) => {
      const key = await withClient(command, (client) => client.getPublicKey(options.keyId));
      const bytes = options.der
        ? key.publicKey
        : Buffer.from(createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }));
      writeOutput(bytes, { out: options.out });
    });

  const sign = withMessage(new Command('sign'))
    .description('sign a message with an asymmetric key; prints the signature (ECDSA: DER)')
    .option('--out <file>', 'write the signature to a file (default: stdout)')
    .option('--base64', 'write the signature as base64 text instead of raw bytes')
    .addHelpText('after', `${LONG_MESSAGE_HELP}\n\nExample:\n  $ keyhold sign --key-id alias/signing --algorithm ECDSA_SHA_256 --in release.tar.gz --out release.sig`)
    .action(async (options, command: Command) => {
      const message = await readInput({ in: options.in });
      const signature = await withClient(command, async (client) => {
        const signingAlgorithm = await resolveAlgorithm(client, options.keyId, options.algorithm);
        const answer = await client.sign({ keyId: options.keyId, signingAlgorithm, ...messageToSend(message, options.messageType, signingAlgorithm) });
        return answer.signature;
      });
      writeOutput(signature, options);
    });

  const verify = withMessage(new Command('verify'))
    .description('check a signature with an asymmetric key: exit 0 when valid, 1 when not')
    .option('--signature <file>', 'the signature, raw bytes')
    .option('--signature-base64 <b64>', 'the signature as base64 text')
    .addHelpText('after', `${LONG_MESSAGE_HELP}\n\nExample:\n  $ keyhold verify --key-id alias/signing --algorithm ECDSA_SHA_256 --in release.tar.gz --signature release.sig`)
    .action(async (options, command: Command) => {
      const signature = readSignature(options);
      const message = await readInput({ in: options.in });
      const result = await withClient(command, async (client) => {
        const signingAlgorithm = await resolveAlgorithm(client, options.keyId, options.algorithm);
        return client.verify({ keyId: options.keyId, signature, signingAlgorithm, ...messageToSend(message, options.messageType, signingAlgorithm) });
      });
      if (!result.signatureValid) {
        // The same line the server's refusal would print, so scripts see one convention.
        throw new KeyholdApiError('KMSInvalidSignatureException', 400, `the signature does not verify with key ${options.keyId} and ${result.signingAlgorithm}`);
      }
      printResult(command, { KeyId: result.keyId, SignatureValid: true, SigningAlgorithm: result.signingAlgorithm });
    });

  return [pubkey, sign, verify];
}

function readSignature(options: { signature?: string; signatureBase64?: string }): Buffer {
  if ((options.signature === undefined) === (options.signatureBase64 === undefined)) {
    throw new UsageError('give the signature with --signature FILE or --signature-base64 B64 (one of them)');
  }
  if (options.signature !== undefined) return readFileSync(options.signature);
  const text = options.signatureBase64!.trim();
  if (text === '' || !isStandardBase64(text)) throw new UsageError('--signature-base64 is not standard base64');
  return Buffer.from(text, 'base64');
}
