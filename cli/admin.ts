import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { StartupError } from '../src/errors.js';
import type { MasterKeyProvider } from '../src/providers/master-keys/index.js';
import type { MasterKeyDescriptor, RootKeyRecord } from '../src/store/records.js';
import type { Store } from '../src/store/store.js';
import { EXIT } from './errors.js';
import { backup, restore } from './commands/backup.js';

// The store and the master-key providers (LevelDB, argon2, PKCS#11) load only when an admin
// command runs, not with every client command.
const storeModule = () => import('../src/store/leveldb-store.js');
// zod comes with the configuration schema: loaded only by the admin commands that need it.
const configModule = () => import('../src/config.js');

/** The master-key settings a rekey takes anew; each may be given as KEYHOLD_NEW_<NAME>. */
const MASTER_SETTINGS = [
  'MASTER', 'PASSPHRASE', 'PASSPHRASE_FILE', 'KDF',
  'PKCS11_LIB', 'PKCS11_TOKEN_LABEL', 'PKCS11_SLOT', 'PKCS11_PIN', 'PKCS11_PIN_FILE', 'PKCS11_KEY_LABEL',
] as const;

interface RekeyFlags {
  to?: string;
  newPassphraseFile?: string;
  newKdf?: string;
  newPkcs11Lib?: string;
  newTokenLabel?: string;
  newSlot?: string;
  newPinFile?: string;
  newKeyLabel?: string;
}

/** Describes a master key without any secret: what `admin status` and `rekey` print. */
export function describeMaster(master: MasterKeyDescriptor): string {
  if (master.kind === 'pkcs11') return `pkcs11 (key '${master.keyLabel}', ${master.mechanism})`;
  if (master.kdf === 'pbkdf2-sha256') return `passphrase (PBKDF2-HMAC-SHA256, ${master.iterations} iterations)`;
  return `passphrase (argon2id, m=${master.memoryKiB} KiB, t=${master.timeCost}, p=${master.parallelism})`;
}

/**
 * The environment for the NEW master key: the current one with every master-key setting
 * replaced by its KEYHOLD_NEW_* value or flag, so both sides are read by the one schema.
 */
function newMasterEnvironment(env: NodeJS.ProcessEnv, flags: RekeyFlags): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...env };
  for (const name of MASTER_SETTINGS) {
    delete result[`KEYHOLD_${name}`];
    const value = env[`KEYHOLD_NEW_${name}`];
    if (value !== undefined) result[`KEYHOLD_${name}`] = value;
  }
  const fromFlags: Record<string, string | undefined> = {
    KEYHOLD_MASTER: flags.to,
    KEYHOLD_PASSPHRASE_FILE: flags.newPassphraseFile,
    KEYHOLD_KDF: flags.newKdf,
    KEYHOLD_PKCS11_LIB: flags.newPkcs11Lib,
    KEYHOLD_PKCS11_TOKEN_LABEL: flags.newTokenLabel,
    KEYHOLD_PKCS11_SLOT: flags.newSlot,
    KEYHOLD_PKCS11_PIN_FILE: flags.newPinFile,
    KEYHOLD_PKCS11_KEY_LABEL: flags.newKeyLabel,
  };
  for (const [name, value] of Object.entries(fromFlags)) if (value !== undefined) result[name] = value;
  return result;
}

/** A StartupError about the new master names the KEYHOLD_NEW_* variable instead. */
function asNewSetting(error: unknown): unknown {
  if (error instanceof StartupError && error.variable?.startsWith('KEYHOLD_')) {
    const variable = error.variable.replace(/^KEYHOLD_/, 'KEYHOLD_NEW_');
    return new StartupError(error.message.slice(error.variable.length + 2), variable);
  }
  return error;
}

/** The configured data dir, once it is known to hold a store. */
async function existingDataDir(): Promise<string> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const { loadConfig } = await configModule();
  const { dataDir } = loadConfig();
  (await import('../src/backup/restore-marker.js')).refuseUnfinishedRestore(dataDir);
  // Never create a store here: a mistyped KEYHOLD_DATA_DIR must not leave one behind.
  if (!existsSync(path.join(dataDir, 'store'))) {
    throw new StartupError(`no Keyhold store in ${dataDir} (start the server once to create one)`, 'KEYHOLD_DATA_DIR');
  }
  return dataDir;
}

async function openStoreOffline(options: { reseal?: boolean } = {}): Promise<{ store: Store; record: RootKeyRecord; dataDir: string }> {
  const { loadConfig } = await configModule();
  const config = loadConfig();
  // A shared PostgreSQL store: the offline commands work on the database, beside running nodes.
  const opened = config.storeUrl !== undefined ? await openSharedStore(config) : await openLevelDbOffline(options);
  const record = await opened.store.getRootKeyRecord();
  if (!record) {
    await opened.store.close();
    throw new StartupError(`no Keyhold store in ${opened.store.location} (start the server once to create one)`, config.storeUrl !== undefined ? 'KEYHOLD_STORE_URL' : 'KEYHOLD_DATA_DIR');
  }
  return { store: opened.store, record, dataDir: opened.dataDir };
}

async function openSharedStore(config: { storeUrl?: string; dataDir: string }): Promise<{ store: Store; dataDir: string }> {
  const { PostgresStore } = await import('../src/store/postgres/postgres-store.js');
  return { store: await PostgresStore.open({ url: config.storeUrl!, dataDir: config.dataDir }), dataDir: config.dataDir };
}

async function openLevelDbOffline(options: { reseal?: boolean }): Promise<{ store: Store; dataDir: string }> {
  const dataDir = await existingDataDir();
  const { LevelDbStore } = await storeModule();
  const store = await LevelDbStore.open(dataDir, options).catch((error: unknown) => {
    if (error instanceof StartupError && error.message.includes('store in use')) {
      throw new StartupError(`${error.message.replace(/^KEYHOLD_DATA_DIR: /, '')}; stop the server first`, 'KEYHOLD_DATA_DIR');
    }
    throw error;
  });
  return { store, dataDir };
}

async function status(_options: unknown, command: Command): Promise<void> {
  // --output is the root command's option: json, or text for 'table' and by default.
  const options = { output: command.optsWithGlobals().output === 'json' ? 'json' : 'text' };
  const { store, record, dataDir } = await openStoreOffline();
  try {
    const keys = (await store.listKeys(undefined, Number.MAX_SAFE_INTEGER)).length;
    const credentials = (await store.listCredentials()).length;
    const { salt: _salt, ...master } = record.master as MasterKeyDescriptor & { salt?: string };
    const summary = { dataDir, storeVersion: record.storeVersion, createdAt: record.createdAt, rekeyedAt: record.rekeyedAt, master, keys, credentials };
    if (options.output === 'json') {
      console.log(JSON.stringify(summary, null, 2));
      return;
    }
    console.log(`store:        ${dataDir} (version ${record.storeVersion}, created ${record.createdAt})`);
    console.log(`master key:   ${describeMaster(record.master)}`);
    if (record.rekeyedAt) console.log(`rekeyed:      ${record.rekeyedAt}`);
    console.log(`keys:         ${keys}`);
    console.log(`credentials:  ${credentials}`);
  } finally {
    await store.close();
  }
}

async function rekey(flags: RekeyFlags): Promise<void> {
  const { store } = await openStoreOffline();
  let from: MasterKeyProvider | undefined;
  let to: MasterKeyProvider | undefined;
  try {
    const { createMasterKeyProvider } = await import('../src/providers/master-keys/index.js');
    const { rekeyRootKey } = await import('../src/kms/rekey.js');
    const { loadConfig } = await configModule();
    const warn = (message: string) => process.stderr.write(`keyhold: ${message}\n`);
    from = createMasterKeyProvider(loadConfig(), warn);
    try {
      const newConfig = loadConfig(newMasterEnvironment(process.env, flags));
      if (newConfig.master === 'passphrase' && !newConfig.passphrase) {
        throw new StartupError('the new passphrase is required (--new-passphrase-file FILE)', 'KEYHOLD_PASSPHRASE');
      }
      to = createMasterKeyProvider(newConfig, warn);
    } catch (error) {
      throw asNewSetting(error);
    }
    const result = await rekeyRootKey({ store, from, to });
    console.log(`rekeyed: ${describeMaster(result.from)} -> ${describeMaster(result.to)}`);
  } finally {
    await to?.close();
    await from?.close();
    await store.close();
  }
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** Checks the LevelDB files before the store is opened; false (exit 4 set) when they are damaged. */
async function verifyLevelDbDirectory(): Promise<boolean> {
  const dataDir = await existingDataDir();
  const { isStoreLockHeld } = await import('../src/store/store-lock.js');
  const location = path.join(dataDir, 'store');
  // Before reading files a running server may be changing: its half-written table would read as damage.
  if (isStoreLockHeld(location)) {
    throw new StartupError(`store in use: another Keyhold process has ${location} open; stop the server first`, 'KEYHOLD_DATA_DIR');
  }
  const { verifyLevelDbFiles } = await import('../src/store/leveldb-files.js');
  const files = await verifyLevelDbFiles(location);
  for (const found of files.problems) console.log(`problem: ${found.message}`);
  const size = files.bytes < 1e6 ? `${Math.ceil(files.bytes / 1e3)} KB` : `${(files.bytes / 1e6).toFixed(1)} MB`;
  if (files.problems.length > 0) {
    console.log(`files: ${files.files} files, ${size}: ${plural(files.problems.length, 'problem')}; records not checked, since opening a damaged store lets LevelDB drop or rewrite the damaged files (copy the directory aside first)`);
    process.exitCode = EXIT.damaged;
    return false;
  }
  console.log(`files: ${files.files} files, ${size}: intact`);
  if (files.ignored.length > 0) console.log(`note: not read, since LevelDB deletes them at open unread: ${files.ignored.join(', ')}`);
  if (files.tornTail) {
    const { file, offset, bytes } = files.tornTail;
    console.log(`note: ${file} ends in ${bytes} bytes from byte ${offset} that LevelDB drops at open: a write cut short, never acknowledged`);
  }
  return true;
}

/**
 * Checks the LevelDB files, then (only if they are intact: opening lets LevelDB drop or
 * rewrite damaged files) every record under the root key. Exit 4 on any damage.
 */
async function verifyStore(options: { reseal?: boolean }): Promise<void> {
  const { loadConfig } = await configModule();
  // A PostgreSQL store has no LevelDB files: the database checks its own pages; the records are checked below.
  if (loadConfig().storeUrl === undefined && !(await verifyLevelDbDirectory())) return;
  const { store, record } = await openStoreOffline({ reseal: options.reseal === true });
  if (options.reseal && store.location.startsWith('postgres')) console.log('seal: none (a PostgreSQL store has no seal file)');
  else if (options.reseal) console.log(`seal: ${path.join(store.dataDir, 'store.seal')} made anew for store ${store.storeId}`);
  let provider: MasterKeyProvider | undefined;
  let rootKey: Buffer | undefined;
  try {
    const { createMasterKeyProvider } = await import('../src/providers/master-keys/index.js');
    const { unwrapRootKeyRecord } = await import('../src/kms/root-key.js');
    const { describeCounts, verifyStoreRecords } = await import('../src/kms/verify-store.js');
    const { loadConfig } = await configModule();
    provider = createMasterKeyProvider(loadConfig(), (message) => process.stderr.write(`keyhold: ${message}\n`));
    rootKey = await unwrapRootKeyRecord(record, provider);
    const result = await verifyStoreRecords(store, rootKey);
    for (const found of result.problems) console.log(`problem: ${found.message}`);
    const unlisted = result.problemCount - result.problems.length;
    if (unlisted > 0) console.log(`problem: … and ${unlisted} more`);
    const verdict = result.problemCount === 0 ? 'all intact' : plural(result.problemCount, 'problem');
    console.log(`records: ${describeCounts(result.counts)}: ${verdict}`);
    if (result.problemCount > 0) process.exitCode = EXIT.damaged;
  } finally {
    rootKey?.fill(0);
    await provider?.close();
    await store.close();
  }
}

const warnOnStderr = (message: string) => process.stderr.write(`keyhold: ${message}\n`);

/** `keyhold admin audit verify`: exit 4 on a break, naming the first bad record. */
async function auditVerify(): Promise<void> {
  const { store } = await openStoreOffline();
  try {
    const { loadConfig } = await configModule();
    const { verifyTrailOffline } = await import('../src/server/offline-admin.js');
    const verdict = await verifyTrailOffline(loadConfig(), store, warnOnStderr);
    const unchained = verdict.unchained > 0 ? ` (and ${plural(verdict.unchained, 'older unchained line')}, not verifiable)` : '';
    // Left by workers of a server that stopped without moving them (killed): checked, moved at its next start.
    const journaled = verdict.journaled > 0 ? `, and ${plural(verdict.journaled, 'record')} in the workers' audit journals, checked, not yet in the trail (a running server moves them within a second, a stopped one when it starts)` : '';
    // On a shared store: the records other nodes have not moved yet are on their disks.
    const here = verdict.node === undefined ? '' : ` (this node is ${verdict.node})`;
    const elsewhere = verdict.otherNodes.length > 0 ? `; not checked here: the journals of ${plural(verdict.otherNodes.length, 'other node')} (${verdict.otherNodes.join(', ')}): run this on them${here}` : '';
    if (verdict.problem === undefined) {
      console.log(`audit trail: ${plural(verdict.checked, 'record')} checked: intact${unchained}${journaled}${elsewhere}`);
      return;
    }
    console.log(`audit trail: ${plural(verdict.checked, 'record')} checked before the first break: ${verdict.problem}`);
    process.exitCode = EXIT.damaged;
  } finally {
    await store.close();
  }
}

/** `keyhold admin credentials create`: a credential made offline (the way back in when every admin credential is lost). */
async function credentialsCreate(options: { admin?: boolean; policyFile?: string; description?: string; out?: string }): Promise<void> {
  const { store } = await openStoreOffline();
  try {
    const { loadConfig } = await configModule();
    const { createCredentialOffline } = await import('../src/server/offline-admin.js');
    const made = await createCredentialOffline(loadConfig(), store, { admin: options.admin === true, policyFile: options.policyFile, description: options.description, out: options.out }, warnOnStderr);
    if (made.file) console.log(`created credential ${made.contents.AccessKeyId} in ${made.file} (mode 0600)`);
    else console.log(JSON.stringify(made.contents, null, 2));
  } finally {
    await store.close();
  }
}

/** Makes a new store offline, as a first start would, only in a data directory that never held one. */
async function init(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const { loadConfig } = await configModule();
  const { initStore } = await import('../src/server/init-store.js');
  const made = await initStore(loadConfig(), (message) => process.stderr.write(`keyhold: ${message}\n`));
  console.log(`initialised store ${made.storeId}; admin credential ${made.accessKeyId} in ${made.credentialsFile} (mode 0600)`);
}

export function adminCommand(): Command {
  const admin = new Command('admin').description('administration of a store: backup talks to a running server, the others need it stopped');

  admin
    .command('status')
    .description("show the store's master-key kind, KDF or mechanism parameters and version (no secrets)")
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=./data keyhold admin status\n  $ keyhold --output json admin status')
    .action(status);

  admin
    .command('rekey')
    .description(
      'rewrap the root key under a new master key: the current one comes from the usual KEYHOLD_* settings, ' +
        'the new one from these flags or KEYHOLD_NEW_* variables (KEYHOLD_NEW_PASSPHRASE, KEYHOLD_NEW_PKCS11_PIN, …)',
    )
    .addOption(new Option('--to <kind>', 'the new master kind').choices(['passphrase', 'pkcs11']))
    .option('--new-passphrase-file <file>', 'file holding the new passphrase')
    .addOption(new Option('--new-kdf <kdf>', 'KDF for the new passphrase').choices(['pbkdf2', 'argon2id']))
    .option('--new-pkcs11-lib <path>', 'PKCS#11 library of the new token')
    .option('--new-token-label <label>', 'label of the new token')
    .option('--new-slot <id>', 'slot id of the new token')
    .option('--new-pin-file <file>', 'file holding the new token PIN')
    .option('--new-key-label <label>', 'label of the new master key on the token')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ KEYHOLD_PASSPHRASE_FILE=old.txt keyhold admin rekey --to passphrase --new-passphrase-file new.txt\n' +
        '  $ KEYHOLD_PASSPHRASE_FILE=old.txt SOFTHSM2_CONF=softhsm/softhsm2.conf \\\n' +
        '      keyhold admin rekey --to pkcs11 --new-token-label keyhold --new-pin-file softhsm/dev-pin',
    )
    .action(rekey);

  admin
    .command('init')
    .description(
      'make a new store offline in an empty KEYHOLD_DATA_DIR, as the first start would: root key under the configured master key, ' +
        'the first admin credential and admin.credentials (for KEYHOLD_HOST and KEYHOLD_PORT); refused where a store exists',
    )
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=/var/lib/keyhold KEYHOLD_PASSPHRASE_FILE=/etc/keyhold/passphrase keyhold admin init')
    .action(init);

  admin
    .command('verify-store')
    .description(
      'check the LevelDB files (checksums of logs and tables) and then every record (parses, versions complete and ' +
        'unwrapping under the root key, aliases and schedule naming existing keys); exit 4 on any damage',
    )
    .option('--reseal', "after the files check out, make store.seal anew from the store's own identity and newest write (for a store whose seal was lost; the records are checked after)")
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=./data KEYHOLD_PASSPHRASE_FILE=pass.txt keyhold admin verify-store')
    .action(verifyStore);

  admin
    .command('backup')
    .description('back up every record of a running server (admin credential), key material only wrapped, into FILE (0600)')
    .requiredOption('--out <file>', 'the backup file to write (replaced only once the new backup is whole and checked)')
    .addHelpText('after', '\nExample:\n  $ keyhold --credentials data/admin.credentials admin backup --out /backups/keyhold-$(date +%F).backup')
    .action(backup);

  admin
    .command('restore')
    .description(
      'restore a backup into an empty KEYHOLD_DATA_DIR (offline), with the master-key settings of the store that was backed up; ' +
        'the file and the master key are checked before anything is written',
    )
    .requiredOption('--in <file>', 'the backup file')
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=/var/lib/keyhold KEYHOLD_PASSPHRASE_FILE=/etc/keyhold/passphrase keyhold admin restore --in keyhold.backup')
    .action(restore);

  const audit = admin.command('audit').description('the audit trail, offline');
  audit
    .command('verify')
    .description(
      "check every audit record's MAC under the audit key (from the root key), the numbering and chaining from the first kept record, " +
        "and the chain's head: reports the records checked and 'intact' or the first record altered, removed, reordered or inserted; exit 4 on a break",
    )
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=./data KEYHOLD_PASSPHRASE_FILE=pass.txt keyhold admin audit verify')
    .action(auditVerify);

  const credentials = admin.command('credentials').description('credentials, offline');
  credentials
    .command('create')
    .description('make a credential offline with the master-key settings (the way back in when every admin credential is lost); audited')
    .option('--admin', 'an admin credential')
    .option('--policy-file <file>', 'the policy of a non-admin credential')
    .option('--description <text>', 'what the credential is for')
    .option('--out <file>', 'write it as a credentials file (mode 0600, never over an existing file) instead of printing it')
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=./data KEYHOLD_PASSPHRASE_FILE=pass.txt keyhold admin credentials create --admin --out new-admin.credentials')
    .action(credentialsCreate);

  return admin;
}
