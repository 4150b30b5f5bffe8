import { createPrivateKey, createPublicKey } from 'node:crypto';
import path from 'node:path';
import { Command, Option } from 'commander';
import { nonRegularFileKind } from '../../src/client/file-envelope-atomic.js';
import type { GenerateDataKeyPairWithoutPlaintextResult } from '../../src/client/index.js';
import { DATA_KEY_PAIR_SPECS } from '../../src/crypto/data-key-pair.js';
import { isStandardBase64 } from '../../src/protocol/base64.js';
import { blobFromInput, collectPairs, positiveInteger, printResult, readInput, withClient, writeOutput } from '../context.js';
import { UsageError } from '../errors.js';
import { runBatch } from './batch.js';

function withIo(command: Command): Command {
  return command
    .option('--in <file>', 'read the input from a file (default: stdin)')
    .option('--out <file>', 'write the output to a file, mode 0600 (default: stdout)')
    .option('--base64', 'write the output as base64 text instead of raw bytes');
}

function encryptionAlgorithmOption(): Option {
  return new Option('--encryption-algorithm <alg>', 'for an RSA ENCRYPT_DECRYPT key: RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 (symmetric keys: SYMMETRIC_DEFAULT, or leave out)')
    .choices(['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
}

/**
 * An RSA ciphertext as given: raw bytes, or the base64 text `--base64` printed. Raw RSA output
 * that happened to be all base64 characters is as likely as guessing the key, so text that
 * reads as base64 is base64.
 */
function rsaCiphertextFromInput(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1').trim();
  return isStandardBase64(text) ? Buffer.from(text, 'base64') : bytes;
}

export function cryptoCommands(): Command[] {
  const encrypt = withIo(
    new Command('encrypt')
      .description('encrypt up to 4096 bytes under a key; prints the ciphertext blob')
      .option('--key-id <key>', 'KeyId, keyhold:key/…, or alias/… (required unless --batch)')
      .option('--plaintext <text>', 'the text to encrypt (visible to other users in `ps` and in shell history: prefer --in or stdin)')
      .option('--context <key=value>', 'encryption context pair (repeatable)', collectPairs)
      .addOption(encryptionAlgorithmOption())
      .option('--batch <file>', 'encrypt every line of a JSON-lines file (`-`: stdin), each an encrypt request such as {"KeyId":"alias/orders","Plaintext":"<base64>"}; prints one JSON answer per line')
      .addHelpText('after', '\nExamples:\n  $ echo -n "s3cret" | keyhold encrypt --key-id alias/orders --context table=orders --out secret.blob\n' +
        '  $ keyhold encrypt --key-id alias/rsa-transport --encryption-algorithm RSAES_OAEP_SHA_256 --in session.key --out session.key.enc\n' +
        '  $ keyhold encrypt --batch rows.jsonl > blobs.jsonl    # exits 1 if any line failed, naming the lines'),
  ).action(async (options, command: Command) => {
    if (options.batch !== undefined) {
      refuseWithBatch(options, ['keyId', 'plaintext', 'in', 'out', 'base64', 'context', 'encryptionAlgorithm']);
      return runBatch(command, 'batchencrypt', options.batch);
    }
    if (options.keyId === undefined) throw new UsageError("required option '--key-id <key>' not specified (see --help)");
    const plaintext = await readInput(options);
    const answer = await withClient(command, (client) =>
      client.encrypt({ keyId: options.keyId, plaintext, encryptionContext: options.context, encryptionAlgorithm: options.encryptionAlgorithm }),
    );
    writeOutput(answer.ciphertextBlob, options);
  });

  const decrypt = withIo(
    new Command('decrypt')
      .description('decrypt a ciphertext blob (raw or base64); prints the plaintext')
      .option('--key-id <key>', 'refuse the blob unless it belongs to this key (required for an RSA key)')
      .option('--context <key=value>', 'encryption context pair (repeatable)', collectPairs)
      .addOption(encryptionAlgorithmOption())
      .option('--batch <file>', 'decrypt every line of a JSON-lines file (`-`: stdin), each a decrypt request such as {"CiphertextBlob":"<base64>"}; prints one JSON answer per line')
      .addHelpText('after', '\nExamples:\n  $ keyhold decrypt --in secret.blob --context table=orders\n' +
        '  $ keyhold decrypt --key-id alias/rsa-transport --encryption-algorithm RSAES_OAEP_SHA_256 --in session.key.enc\n' +
        '  $ keyhold decrypt --batch blobs.jsonl    # exits 1 if any line failed, naming the lines'),
  ).action(async (options, command: Command) => {
    if (options.batch !== undefined) {
      refuseWithBatch(options, ['keyId', 'in', 'out', 'base64', 'context', 'encryptionAlgorithm']);
      return runBatch(command, 'batchdecrypt', options.batch);
    }
    const input = await readInput({ in: options.in });
    /* Precondition: an RSA ciphertext names no key, so the key is given. */
    if (options.encryptionAlgorithm !== undefined && options.encryptionAlgorithm !== 'SYMMETRIC_DEFAULT' && options.keyId === undefined) {
      throw new UsageError('--encryption-algorithm RSAES_… needs --key-id (an RSA ciphertext does not name its key)');
    }
    const ciphertextBlob = options.encryptionAlgorithm?.startsWith('RSAES_') ? rsaCiphertextFromInput(input) : blobFromInput(input);
    const answer = await withClient(command, (client) =>
      client.decrypt({ ciphertextBlob, encryptionContext: options.context, keyId: options.keyId, encryptionAlgorithm: options.encryptionAlgorithm }),
    );
    try {
      writeOutput(answer.plaintext, options);
    } finally {
      answer.plaintext.fill(0);
    }
  });

  const reencrypt = withIo(
    new Command('reencrypt')
      .description('move a blob to another key (or the newest version of its own) without exposing the plaintext')
      .requiredOption('--destination-key-id <key>', 'the key to encrypt under')
      .option('--source-key-id <key>', 'refuse the blob unless it was made under this key')
      .option('--source-context <key=value>', 'encryption context of the blob (repeatable)', collectPairs)
      .option('--destination-context <key=value>', 'encryption context for the new blob (repeatable)', collectPairs)
      .addHelpText('after', '\nExample:\n  $ keyhold reencrypt --in old.blob --destination-key-id alias/orders-2027 --out new.blob'),
  ).action(async (options, command: Command) => {
    const ciphertextBlob = blobFromInput(await readInput({ in: options.in }));
    const answer = await withClient(command, (client) =>
      client.reEncrypt({
        ciphertextBlob,
        sourceKeyId: options.sourceKeyId,
        destinationKeyId: options.destinationKeyId,
        sourceEncryptionContext: options.sourceContext,
        destinationEncryptionContext: options.destinationContext,
      }),
    );
    writeOutput(answer.ciphertextBlob, options);
  });

  const datakey = new Command('datakey')
    .description('generate a data key: prints {Plaintext, CiphertextBlob, KeyId} as JSON (base64)')
    .requiredOption('--key-id <key>', 'the key that wraps the data key')
    .addOption(new Option('--spec <spec>', 'AES_256 or AES_128 (default AES_256)').choices(['AES_256', 'AES_128']))
    .option('--bytes <n>', 'a data key of N bytes (1..1024) instead of --spec', positiveInteger)
    .option('--context <key=value>', 'encryption context pair (repeatable)', collectPairs)
    .option('--without-plaintext', 'return only the wrapped data key')
    .addHelpText('after', '\nExample:\n  $ keyhold datakey --key-id alias/orders --spec AES_256 --context file=backup.tar')
    .action(async (options, command: Command) => {
      if (options.spec && options.bytes) throw new UsageError('give --spec or --bytes, not both');
      const body = {
        KeyId: options.keyId,
        ...(options.bytes ? { NumberOfBytes: options.bytes } : { KeySpec: options.spec ?? 'AES_256' }),
        EncryptionContext: options.context,
      };
      const action = options.withoutPlaintext ? 'generatedatakeywithoutplaintext' : 'generatedatakey';
      printResult(command, await withClient(command, (client) => client.call(action, body)));
    });

  const datakeyPair = new Command('datakey-pair')
    .description('generate a data key pair: writes its public key, its private key encrypted under --key-id and, unless --without-plaintext, its private key')
    .requiredOption('--key-id <key>', 'the symmetric key that encrypts the private key')
    .addOption(new Option('--spec <spec>', 'the key pair spec').choices([...DATA_KEY_PAIR_SPECS]).makeOptionMandatory())
    .option('--context <key=value>', 'encryption context pair (repeatable)', collectPairs)
    .requiredOption('--public-key-out <file>', 'write the public key here (PEM SubjectPublicKeyInfo, or DER with --der)')
    .requiredOption('--encrypted-private-key-out <file>', 'write the encrypted private key here (a ciphertext blob: `keyhold decrypt` gives back its PKCS#8 DER)')
    .option('--private-key-out <file>', 'write the private key here, mode 0600 (PEM PKCS#8, or DER with --der)')
    .option('--der', 'write DER instead of PEM')
    .option('--without-plaintext', 'ask for no private key (only the public and the encrypted private key)')
    .addHelpText('after', '\nRSA pairs take the server up to a few seconds to make; ECC pairs are immediate.\n\nExamples:\n' +
      '  $ keyhold datakey-pair --key-id alias/orders --spec ECC_NIST_P256 --private-key-out signer.pem --public-key-out signer.pub.pem --encrypted-private-key-out signer.key.blob\n' +
      '  $ keyhold datakey-pair --key-id alias/orders --spec RSA_3072 --without-plaintext --public-key-out rsa.pub.pem --encrypted-private-key-out rsa.key.blob')
    .action(async (options, command: Command) => {
      /* Precondition: the private key is asked for exactly when it is written somewhere, and no two outputs share a file. */
      const withoutPlaintext = options.withoutPlaintext === true;
      if (!withoutPlaintext && options.privateKeyOut === undefined) throw new UsageError('give --private-key-out FILE, or --without-plaintext');
      if (withoutPlaintext && options.privateKeyOut !== undefined) throw new UsageError('give --private-key-out or --without-plaintext, not both');
      const outputs = { '--public-key-out': options.publicKeyOut, '--encrypted-private-key-out': options.encryptedPrivateKeyOut, '--private-key-out': options.privateKeyOut };
      requireOutputFiles(outputs);
      const request = { keyId: options.keyId, keyPairSpec: options.spec, encryptionContext: options.context };
      const pair: GenerateDataKeyPairWithoutPlaintextResult & { privateKeyPlaintext?: Buffer } = await withClient(command, (client) =>
        withoutPlaintext ? client.generateDataKeyPairWithoutPlaintext(request) : client.generateDataKeyPair(request),
      );
      const privateKey = pair.privateKeyPlaintext;
      try {
        writeOutput(options.der ? pair.publicKey : publicKeyPem(pair.publicKey), { out: options.publicKeyOut });
        writeOutput(pair.privateKeyCiphertextBlob, { out: options.encryptedPrivateKeyOut });
        if (privateKey !== undefined) writeOutput(options.der ? privateKey : privateKeyPem(privateKey), { out: options.privateKeyOut });
      } finally {
        privateKey?.fill(0);
      }
      printResult(command, { KeyId: pair.keyId, KeyPairSpec: pair.keyPairSpec });
    });

  const random = new Command('random')
    .description('random bytes from the server')
    .requiredOption('--bytes <n>', 'how many bytes (1..1024)', positiveInteger)
    .option('--out <file>', 'write them to a file, mode 0600 (default: stdout)')
    .option('--base64', 'write base64 text instead of raw bytes')
    .addHelpText('after', '\nExample:\n  $ keyhold random --bytes 32 --base64')
    .action(async (options, command: Command) => {
      writeOutput(await withClient(command, (client) => client.generateRandom(options.bytes)), options);
    });

  return [encrypt, decrypt, reencrypt, datakey, datakeyPair, random];
}

/** With --batch every request comes from the file: the single request's options would be ignored, so they are refused. */
function refuseWithBatch(options: Record<string, unknown>, names: string[]): void {
  const given = names.filter((name) => options[name] !== undefined).map((name) => `--${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`);
  if (given.length > 0) throw new UsageError(`--batch takes each request from its file: leave out ${given.join(', ')}`);
}

/** Checked before the server makes a pair: each output a file of its own, absent or regular (writeOutput renames over it). */
function requireOutputFiles(outputs: Record<string, string | undefined>): void {
  const files = Object.entries(outputs).filter((entry): entry is [string, string] => entry[1] !== undefined);
  if (new Set(files.map(([, file]) => path.resolve(file))).size !== files.length) throw new UsageError('each --…-out option needs a file of its own');
  for (const [option, file] of files) {
    const kind = nonRegularFileKind(file);
    if (kind !== undefined) throw new UsageError(`${option} ${file} exists and is ${kind}, not a regular file`);
  }
}

function publicKeyPem(der: Buffer): Buffer {
  return Buffer.from(createPublicKey({ key: der, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }));
}

function privateKeyPem(der: Buffer): Buffer {
  return Buffer.from(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }));
}
