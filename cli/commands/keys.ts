import { Command, Option } from 'commander';
import { ASYMMETRIC_KEY_SPECS } from '../../src/crypto/asymmetric-algorithms.js';
import { MAC_KEY_SPECS } from '../../src/crypto/mac.js';
import type { KeyholdClient } from '../../src/client/index.js';
import { collectPairs, positiveInteger, printResult, withClient } from '../context.js';
import type { Table } from '../output.js';
import { addPagingOptions, listAll, type PagingOptions } from '../paging.js';
import { UsageError } from '../errors.js';
import { addImportCommands } from './imports.js';

const KEY_COLUMNS = ['KeyId', 'KeyState', 'Description', 'KeySpec', 'KeyUsage', 'Origin', 'CurrentKeyVersion', 'KeyRotationEnabled', 'Aliases', 'CreationDate'];
const KEY_SPECS = ['SYMMETRIC_DEFAULT', ...ASYMMETRIC_KEY_SPECS, ...MAC_KEY_SPECS];

export function example(command: Command, text: string): Command {
  return command.addHelpText('after', `\nExample:\n  $ ${text}`);
}

type TableOf = (answer: Record<string, any>) => Table;

/**
 * A command that sends one action with the body built from its arguments and prints the
 * answer; with `quiet`, a change whose answer tells nothing new, it prints only when
 * --output or --query asks for it.
 */
export function action(
  parent: Command,
  spec: string,
  description: string,
  exampleText: string,
  send: (args: string[], options: Record<string, unknown>) => [action: string, body: Record<string, unknown>],
  table?: TableOf,
  then?: (client: KeyholdClient, answer: Record<string, any>, options: Record<string, unknown>) => Promise<Record<string, any>>,
  quiet = false,
): Command {
  const command = example(parent.command(spec).description(description), exampleText);
  command.action(async (...received: unknown[]) => {
    const self = received[received.length - 1] as Command;
    const options = received[received.length - 2] as Record<string, unknown>;
    const args = received.slice(0, -2) as string[];
    const [name, body] = send(args, options);
    const answer = await withClient(self, async (client) => {
      const first = await client.call(name, body);
      return then ? then(client, first, options) : first;
    });
    printResult(self, answer, table?.(answer), { quiet });
  });
  return command;
}

/** A change to something that exists (enable, tag, delete…): silent on success unless asked. */
export function change(
  parent: Command,
  spec: string,
  description: string,
  exampleText: string,
  send: (args: string[], options: Record<string, unknown>) => [action: string, body: Record<string, unknown>],
  table?: TableOf,
): Command {
  return action(parent, spec, description, exampleText, send, table, undefined, true);
}

/** A list command: every page by default (cli/paging.ts), the items under `field`. */
export function listing(
  parent: Command,
  spec: string,
  description: string,
  exampleText: string,
  list: { action: string; field: string; columns: string[]; largestPage: number; noun: string; body?: (args: string[], options: Record<string, unknown>) => Record<string, unknown> },
): Command {
  const command = example(parent.command(spec).description(description), exampleText);
  addPagingOptions(command, list.largestPage, list.noun);
  command.action(async (...received: unknown[]) => {
    const self = received[received.length - 1] as Command;
    const options = received[received.length - 2] as Record<string, unknown> & PagingOptions;
    const body = list.body?.(received.slice(0, -2) as string[], options) ?? {};
    const answer = await withClient(self, (client) => listAll(client, list.action, body, list.field, options, list.largestPage));
    printResult(self, answer, { rows: answer[list.field] as Record<string, unknown>[], columns: list.columns });
  });
  return command;
}

const keyTable = (answer: Record<string, any>) => ({ rows: [answer.KeyMetadata], columns: KEY_COLUMNS });

export function keysCommand(): Command {
  const keys = new Command('keys').description('create, inspect, rotate and retire keys');

  action(keys, 'create', 'create a key: symmetric AES-256-GCM by default, RSA or ECC with --key-spec, or register an AWS/GCP KMS key with --origin',
    'keyhold keys create --description "orders db" --tag team=payments\n' +
      '  $ keyhold keys create --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --alias alias/release-signing\n' +
      '  $ keyhold keys create --key-spec RSA_3072 --key-usage ENCRYPT_DECRYPT\n' +
      '  $ keyhold keys create --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC --alias alias/tokens\n' +
      '  $ keyhold keys create --origin EXTERNAL --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC --alias alias/byok-tokens\n' +
      '  $ keyhold keys create --origin GCP_KMS --provider-key-id projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1\n' +
      '  $ keyhold keys create --origin AWS_KMS --provider-key-id arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    (_args, o) => {
      /* Precondition: a remote key is named by its provider id, and only a remote key has one. */
      const remote = o.origin === 'AWS_KMS' || o.origin === 'GCP_KMS';
      if (remote && o.providerKeyId === undefined) throw new UsageError(`--origin ${o.origin as string} needs --provider-key-id`);
      if (!remote && o.providerKeyId !== undefined) throw new UsageError('--provider-key-id needs --origin AWS_KMS or GCP_KMS');
      if (o.alias !== undefined && !String(o.alias).startsWith('alias/')) throw new UsageError('--alias must start with alias/');
      return ['createkey', {
        Description: o.description,
        KeySpec: o.keySpec,
        KeyUsage: o.keyUsage,
        Origin: o.origin,
        ProviderKeyId: o.providerKeyId,
        Tags: Object.entries((o.tag as Record<string, string>) ?? {}).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
      }];
    },
    keyTable,
    // --alias names the new key in a second call, so scripts need not pick the KeyId out.
    async (client, answer, o) => {
      if (o.alias === undefined) return answer;
      await client.call('createalias', { AliasName: o.alias, TargetKeyId: answer.KeyMetadata.KeyId });
      return { KeyMetadata: { ...answer.KeyMetadata, Aliases: [o.alias] } };
    })
    .option('--description <text>', 'what the key is for')
    .option('--alias <alias/name>', 'also create this alias for the new key')
    .option('--tag <key=value>', 'a tag (repeatable)', collectPairs)
    .addOption(new Option('--key-spec <spec>', 'SYMMETRIC_DEFAULT (default), RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, or HMAC_224, HMAC_256, HMAC_384, HMAC_512 (with --key-usage GENERATE_VERIFY_MAC); for a remote key, read from the provider').choices(KEY_SPECS))
    .addOption(new Option('--key-usage <usage>', 'ENCRYPT_DECRYPT (default; RSA or symmetric), SIGN_VERIFY (RSA or ECC) or GENERATE_VERIFY_MAC (HMAC)').choices(['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC']))
    .addOption(new Option('--origin <origin>', 'KEYHOLD (default: the key is made and kept here), EXTERNAL (you import its material: a symmetric key, or an HMAC key with --key-spec HMAC_*), AWS_KMS or GCP_KMS (register a key that stays in that KMS)').choices(['KEYHOLD', 'EXTERNAL', 'AWS_KMS', 'GCP_KMS']))
    .option('--provider-key-id <id>', 'with --origin: the AWS key ARN, or the GCP projects/…/cryptoKeyVersions/N name');

  listing(keys, 'list', 'list every key (a page at a time with --max-items or --limit)', 'keyhold keys list --query "Keys[?KeyState==\'Enabled\'].KeyId" --output text',
    { action: 'listkeys', field: 'Keys', columns: KEY_COLUMNS, largestPage: 1000, noun: 'keys' });

  action(keys, 'describe <key>', 'show a key (KeyId, keyhold:key/…, or alias/…)', 'keyhold keys describe alias/orders',
    ([key]) => ['describekey', { KeyId: key }], keyTable);
  change(keys, 'enable <key>', 'enable a key', 'keyhold keys enable alias/orders', ([key]) => ['enablekey', { KeyId: key }], keyTable);
  change(keys, 'disable <key>', 'disable a key (it can be enabled again)', 'keyhold keys disable alias/orders',
    ([key]) => ['disablekey', { KeyId: key }], keyTable);
  action(keys, 'schedule-deletion <key>', 'delete a key for good after 7..30 days', 'keyhold keys schedule-deletion alias/old --days 7',
    ([key], o) => ['schedulekeydeletion', { KeyId: key, PendingWindowInDays: o.days }])
    .option('--days <n>', 'pending window in days (7..30, default 30)', positiveInteger);
  change(keys, 'cancel-deletion <key>', 'cancel a scheduled deletion (the key comes back Disabled)', 'keyhold keys cancel-deletion alias/old',
    ([key]) => ['cancelkeydeletion', { KeyId: key }], keyTable);
  change(keys, 'rotate <key>', 'add a new key version now; old blobs keep decrypting', 'keyhold keys rotate alias/orders',
    ([key]) => ['rotatekeyondemand', { KeyId: key }]);
  listing(keys, 'rotations <key>', 'list the rotations of a key', 'keyhold keys rotations alias/orders',
    { action: 'listkeyrotations', field: 'Rotations', columns: ['RotationDate', 'RotationType'], largestPage: 1000, noun: 'rotations', body: ([key]) => ({ KeyId: key }) });

  const rotation = keys.command('rotation').description('automatic rotation of a key');
  change(rotation, 'enable <key>', 'rotate the key automatically every N days', 'keyhold keys rotation enable alias/orders --period-days 90',
    ([key], o) => ['enablekeyrotation', { KeyId: key, RotationPeriodInDays: o.periodDays }])
    .option('--period-days <n>', 'days between rotations (90..2560, default 365)', positiveInteger);
  change(rotation, 'disable <key>', 'stop rotating the key automatically', 'keyhold keys rotation disable alias/orders',
    ([key]) => ['disablekeyrotation', { KeyId: key }]);
  action(rotation, 'status <key>', 'show whether and when the key rotates', 'keyhold keys rotation status alias/orders',
    ([key]) => ['getkeyrotationstatus', { KeyId: key }],
    (answer) => ({ rows: [answer], columns: ['KeyId', 'KeyRotationEnabled', 'RotationPeriodInDays', 'NextRotationDate'] }));

  addImportCommands(keys);
  return keys;
}

export function aliasesCommand(): Command {
  const aliases = new Command('aliases').description('friendly names for keys (alias/…)');
  change(aliases, 'create <alias> <key>', 'name a key', 'keyhold aliases create alias/orders 1234abcd-…',
    ([alias, key]) => ['createalias', { AliasName: alias, TargetKeyId: key }]);
  change(aliases, 'update <alias> <key>', 'point an alias at another key', 'keyhold aliases update alias/orders 5678efgh-…',
    ([alias, key]) => ['updatealias', { AliasName: alias, TargetKeyId: key }]);
  change(aliases, 'delete <alias>', 'remove an alias (the key stays)', 'keyhold aliases delete alias/orders',
    ([alias]) => ['deletealias', { AliasName: alias }]);
  listing(aliases, 'list', 'list aliases, all or of one key', 'keyhold aliases list --key-id alias/orders',
    { action: 'listaliases', field: 'Aliases', columns: ['AliasName', 'TargetKeyId', 'LastUpdatedDate'], largestPage: 100, noun: 'aliases', body: (_args, o) => ({ KeyId: o.keyId }) })
    .option('--key-id <key>', 'only the aliases of this key');
  return aliases;
}

export function tagsCommand(): Command {
  const tags = new Command('tags').description('tags on keys');
  change(tags, 'add <key> <pairs...>', 'add or replace tags (key=value)', 'keyhold tags add alias/orders team=payments env=prod',
    ([key, ...pairs]) => ['tagresource', { KeyId: key, Tags: pairs.flat().map((pair) => collectPairs(pair)).flatMap((o) => Object.entries(o)).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) }]);
  change(tags, 'remove <key> <tagKeys...>', 'remove tags by key', 'keyhold tags remove alias/orders env',
    ([key, ...tagKeys]) => ['untagresource', { KeyId: key, TagKeys: tagKeys.flat() }]);
  listing(tags, 'list <key>', 'list the tags of a key', 'keyhold tags list alias/orders',
    { action: 'listresourcetags', field: 'Tags', columns: ['TagKey', 'TagValue'], largestPage: 50, noun: 'tags', body: ([key]) => ({ KeyId: key }) });
  return tags;
}
