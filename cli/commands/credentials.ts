import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { KeyholdClient, type CreateCredentialResult, type KeyholdClientOptions } from '../../src/client/index.js';
import { writeFileDurably } from '../../src/durable-file.js';
import { connectionOptions, globalOptions, printResult } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { action, change, example, listing } from './keys.js';

const CREDENTIAL_COLUMNS = ['AccessKeyId', 'Enabled', 'Admin', 'Description', 'CreationDate', 'LastUsedDate'];
const credentialTable = (answer: Record<string, any>) => ({ rows: [answer.Credential], columns: CREDENTIAL_COLUMNS });

interface PolicyOptions {
  policy?: string;
  policyFile?: string;
}

interface CreateOptions extends PolicyOptions {
  description?: string;
  admin?: boolean;
  out?: string;
}

/**
 * The policy document of --policy-file or --policy, parsed here so that a typo is a usage
 * error (exit 2) before anything is sent; the server checks what the policy says.
 */
function readPolicy(options: PolicyOptions): object | undefined {
  /* Precondition: at most one source of policy. */
  if (options.policy !== undefined && options.policyFile !== undefined) throw new UsageError('give --policy-file or --policy, not both');
  const source = options.policyFile !== undefined ? `--policy-file ${options.policyFile}` : '--policy';
  const text = options.policyFile !== undefined ? readFileSync(options.policyFile, 'utf8') : options.policy;
  if (text === undefined) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new UsageError(`${source} is not valid JSON`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new UsageError(`${source} must hold a JSON object, such as {"Statement": [ … ]}`);
  }
  return document;
}

/* Precondition: --out names a new file in a directory we may write, checked before the credential is made. */
function checkOutFile(out: string): void {
  if (existsSync(out)) throw new UsageError(`${out} exists; a credentials file is never overwritten`);
  try {
    accessSync(path.dirname(path.resolve(out)), constants.W_OK);
  } catch {
    throw new UsageError(`cannot write ${out}: its directory does not exist or is not writable`);
  }
}

/** A credentials file like data/admin.credentials, naming the server this command reached. */
function credentialsFileText(created: CreateCredentialResult, connection: KeyholdClientOptions): string {
  return JSON.stringify({
    AccessKeyId: created.credential.AccessKeyId,
    SecretKey: created.secretKey.toString('base64'),
    Url: connection.url,
    ...(connection.certSha256 === undefined ? {} : { CertSha256: connection.certSha256 }),
  }, null, 2) + '\n';
}

async function createCredential(options: CreateOptions, self: Command): Promise<void> {
  const policy = readPolicy(options);
  /* Precondition: an admin takes no policy; anyone else needs one. */
  if (options.admin && policy !== undefined) throw new UsageError('--admin takes no policy: an admin may do everything');
  if (!options.admin && policy === undefined) throw new UsageError('give --policy-file FILE or --policy JSON (or --admin for an admin credential)');
  if (options.out !== undefined) checkOutFile(options.out);
  const connection = connectionOptions(globalOptions(self));
  const client = new KeyholdClient(connection);
  let created: CreateCredentialResult;
  try {
    created = await client.createCredential({ description: options.description, admin: options.admin === true, policy });
  } finally {
    client.close();
  }
  try {
    if (options.out !== undefined && writeCredentialsFile(options.out, credentialsFileText(created, connection))) {
      process.stderr.write(`keyhold: wrote the new credential's secret to ${options.out} (mode 0600); it is not shown again\n`);
      printResult(self, { Credential: created.credential }, credentialTable({ Credential: created.credential }));
      return;
    }
    const shown = { Credential: created.credential, SecretKey: created.secretKey.toString('base64') };
    printResult(self, shown, { rows: [{ ...created.credential, SecretKey: shown.SecretKey }], columns: [...CREDENTIAL_COLUMNS, 'SecretKey'] });
  } finally {
    created.secretKey.fill(0);
  }
}

/**
 * Writes --out; false when it could not (it appeared meanwhile, or the disk refused): the
 * credential exists by then, so its secret is printed instead of lost, and the exit code is 1.
 */
function writeCredentialsFile(out: string, text: string): boolean {
  let problem: string;
  try {
    if (writeFileDurably(out, text, { exclusive: true })) return true;
    problem = 'it appeared meanwhile and was left alone';
  } catch (error) {
    problem = (error as NodeJS.ErrnoException).code ?? 'write failed';
  }
  process.stderr.write(`keyhold: could not write ${out} (${problem}); the secret is printed instead\n`);
  process.exitCode = EXIT.failure;
  return false;
}

export function credentialsCommand(): Command {
  const credentials = new Command('credentials').description('who may use Keyhold: credentials, admins or limited by a policy (admin only)');

  example(credentials.command('create'), 'keyhold credentials create --description "orders service" --policy-file orders-policy.json --out orders.credentials\n' +
    '  $ keyhold credentials create --description "second admin" --admin')
    .description('make a credential and show its secret once (or write it to a credentials file with --out)')
    .option('--description <text>', 'who or what the credential is for')
    .option('--admin', 'an admin: may do everything, credential actions included (takes no policy)')
    .option('--policy-file <file>', 'the policy document, a JSON file')
    .option('--policy <json>', 'the policy document as JSON text')
    .option('--out <file>', 'write a credentials file (mode 0600, like data/admin.credentials, never over an existing file) instead of printing the secret')
    .action(createCredential);

  listing(credentials, 'list', 'list every credential (never their secrets)', 'keyhold credentials list --query "Credentials[?Admin].AccessKeyId" --output text',
    { action: 'listcredentials', field: 'Credentials', columns: CREDENTIAL_COLUMNS, largestPage: 1000, noun: 'credentials' });
  action(credentials, 'describe <id>', 'show a credential and its policy (never its secret)', 'keyhold --output json credentials describe KHABCDEFGHIJKLMNOPQR',
    ([id]) => ['describecredential', { AccessKeyId: id }], credentialTable);
  change(credentials, 'update-policy <id>', 'replace the policy of a credential that is not an admin', 'keyhold credentials update-policy KHABCDEFGHIJKLMNOPQR --policy-file orders-policy.json',
    ([id], o) => {
      const policy = readPolicy(o as PolicyOptions);
      if (policy === undefined) throw new UsageError('give --policy-file FILE or --policy JSON');
      return ['updatecredentialpolicy', { AccessKeyId: id, Policy: policy }];
    }, credentialTable)
    .option('--policy-file <file>', 'the new policy document, a JSON file')
    .option('--policy <json>', 'the new policy document as JSON text');
  change(credentials, 'disable <id>', 'refuse the credential\'s requests until it is enabled again (on every worker before this returns)',
    'keyhold credentials disable KHABCDEFGHIJKLMNOPQR', ([id]) => ['disablecredential', { AccessKeyId: id }]);
  change(credentials, 'enable <id>', 'accept a disabled credential again', 'keyhold credentials enable KHABCDEFGHIJKLMNOPQR',
    ([id]) => ['enablecredential', { AccessKeyId: id }]);
  change(credentials, 'delete <id>', 'delete a credential for good', 'keyhold credentials delete KHABCDEFGHIJKLMNOPQR',
    ([id]) => ['deletecredential', { AccessKeyId: id }]);
  return credentials;
}
