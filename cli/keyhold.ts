import { Command, CommanderError, Option } from 'commander';
import { StartupError } from '../src/errors.js';
import { adminCommand } from './admin.js';
import { completionCommand } from './completion.js';
import { asymmetricCommands } from './commands/asymmetric.js';
import { auditCommand } from './commands/audit.js';
import { certCommands } from './commands/certs.js';
import { configureCommand } from './commands/configure.js';
import { credentialsCommand } from './commands/credentials.js';
import { cryptoCommands } from './commands/crypto.js';
import { fileCommands } from './commands/files.js';
import { aliasesCommand, keysCommand, tagsCommand } from './commands/keys.js';
import { macCommands } from './commands/mac.js';
import { describeError, EXIT } from './errors.js';
import { checkQuery, OUTPUT_FORMATS } from './output.js';
import { keyholdVersion } from './version.js';

/**
 * The `keyhold` command line. Client commands talk to a server only over HTTPS through
 * src/client, like any application; `server` starts one; `admin` works on a stopped store.
 */
export function buildProgram(): Command {
  const program = new Command('keyhold')
    .description('Keyhold, a self-hosted Key Management Service')
    .version(keyholdVersion(), '--version', 'print the version of keyhold')
    .option('--url <url>', 'server URL (env KEYHOLD_URL)')
    .option('--profile <name>', 'connection profile from `keyhold configure` (env KEYHOLD_PROFILE)')
    .option('--credentials <file>', 'an admin.credentials file to connect with (env KEYHOLD_CREDENTIALS_FILE)')
    .option('--ca-cert <file>', 'trust this CA certificate for the server')
    .option('--insecure', 'accept any server certificate (prints a warning; testing only)')
    .addOption(new Option('--output <format>', 'json, jsonl (one line per answer or record), table, or text (tab-separated, as the aws CLI writes it); default: table on a terminal, json otherwise').choices(OUTPUT_FORMATS))
    .option('--query <jmespath>', 'print only what this JMESPath expression picks from the answer, e.g. \'Keys[].KeyId\'')
    .option('--verbose', 'show the request id of a failed call')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ keyhold server                                   # same as npm start\n' +
        '  $ keyhold keys create --description "orders db"    # uses ./data/admin.credentials by default\n' +
        '  $ echo -n hi | keyhold encrypt --key-id alias/orders --base64\n' +
        '  $ keyhold keys create --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --description "web TLS key"\n' +
        '  $ keyhold csr --key-id alias/web --subject "CN=www.example.com" --san dns:www.example.com',
    );

  program
    .command('server')
    .description('start the Keyhold server (configuration from the environment and .env)')
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=/var/lib/keyhold KEYHOLD_PASSPHRASE_FILE=/etc/keyhold/passphrase keyhold server')
    // The server stack (express, LevelDB, argon2, PKCS#11) is loaded only for `server`, so the
    // client commands start fast and small.
    .action(async () => (await import('../src/server/main.js')).main());

  program.addCommand(configureCommand());
  program.addCommand(keysCommand());
  program.addCommand(aliasesCommand());
  program.addCommand(tagsCommand());
  program.addCommand(credentialsCommand());
  program.addCommand(auditCommand());
  for (const command of [...cryptoCommands(), ...asymmetricCommands(), ...certCommands(), ...fileCommands()]) program.addCommand(command);
  for (const command of macCommands()) program.addCommand(command);
  program.addCommand(adminCommand());
  // Last: the completion scripts are made from the whole tree.
  program.addCommand(completionCommand(program));

  // A --query that does not parse is a usage error before anything is sent.
  program.hook('preAction', (_program, actionCommand) => {
    const { query } = actionCommand.optsWithGlobals() as { query?: string };
    if (query !== undefined) checkQuery(query);
  });

  // Usage errors exit 2, not commander's default 1.
  const all = (command: Command): Command[] => [command, ...command.commands.flatMap(all)];
  for (const command of all(program)) {
    command.exitOverride();
    // Usage problems are one line like every other error, with a pointer to --help.
    command.configureOutput({
      outputError: (message, write) => write(`Error: UsageError: ${message.replace(/^error: /, '').trim()} (see --help)\n`),
    });
  }
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are not errors; commander has printed the usage problem already.
    process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  if (error instanceof StartupError) {
    process.stderr.write(`keyhold: ${error.message}\n`);
    process.exit(EXIT.failure);
  }
  const verbose = process.argv.includes('--verbose');
  const { line, code } = describeError(error, verbose);
  process.stderr.write(`${line}\n`);
  process.exit(code);
}
