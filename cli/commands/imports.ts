import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { writeFileDurably } from '../../src/durable-file.js';
import { printResult, withClient } from '../context.js';
import { change, example } from './keys.js';

/**
 * `keyhold keys get-parameters-for-import | import-key-material | delete-imported-key-material`:
 * bringing your own key material into a key made with `--origin EXTERNAL`. The public key and
 * the token travel as files of raw bytes, the form openssl reads and writes.
 */
export function addImportCommands(keys: Command): void {
  const parameters = example(
    keys.command('get-parameters-for-import <key>').description('get a wrapping public key (DER) and an import token, valid 24 hours, as two files'),
    'keyhold keys get-parameters-for-import alias/byok --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_3072 ' +
      '--public-key-out WrappingPublicKey.bin --import-token-out ImportToken.bin',
  )
    .addOption(new Option('--wrapping-algorithm <alg>', 'how you will wrap the material').choices(['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256']).makeOptionMandatory())
    .addOption(new Option('--wrapping-key-spec <spec>', 'the RSA wrapping key').choices(['RSA_2048', 'RSA_3072', 'RSA_4096']).makeOptionMandatory())
    .requiredOption('--public-key-out <file>', 'where to write the wrapping public key (DER SubjectPublicKeyInfo)')
    .requiredOption('--import-token-out <file>', 'where to write the import token');
  parameters.action(async (key: string, options: Record<string, string>, self: Command) => {
    const answer = await withClient(self, (client) =>
      client.call('getparametersforimport', { KeyId: key, WrappingAlgorithm: options.wrappingAlgorithm, WrappingKeySpec: options.wrappingKeySpec }),
    );
    writeFileDurably(options.publicKeyOut!, Buffer.from(answer.PublicKey as string, 'base64'));
    writeFileDurably(options.importTokenOut!, Buffer.from(answer.ImportToken as string, 'base64'));
    printResult(self, { KeyId: answer.KeyId, ParametersValidTo: answer.ParametersValidTo });
  });

  change(keys, 'import-key-material <key>', 'import key material wrapped with the public key of get-parameters-for-import',
    'keyhold keys import-key-material alias/byok --import-token ImportToken.bin --encrypted-key-material EncryptedKeyMaterial.bin ' +
      '--expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE',
    ([key], o) => ['importkeymaterial', {
      KeyId: key,
      ImportToken: readFileSync(o.importToken as string).toString('base64'),
      EncryptedKeyMaterial: readFileSync(o.encryptedKeyMaterial as string).toString('base64'),
      ExpirationModel: o.expirationModel,
      ValidTo: o.validTo,
    }])
    .requiredOption('--import-token <file>', 'the import token file')
    .requiredOption('--encrypted-key-material <file>', 'the wrapped key material file')
    .addOption(new Option('--expiration-model <model>', 'KEY_MATERIAL_EXPIRES (default: needs --valid-to) or KEY_MATERIAL_DOES_NOT_EXPIRE').choices(['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE']))
    .option('--valid-to <date>', 'when the material expires, RFC 3339 (at most 365 days ahead)');

  change(keys, 'delete-imported-key-material <key>', 'delete the imported material: the key is PendingImport until the same material is imported again',
    'keyhold keys delete-imported-key-material alias/byok',
    ([key]) => ['deleteimportedkeymaterial', { KeyId: key }]);
}
