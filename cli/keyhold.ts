import { Command, CommanderError } from 'commander';
import { StartupError } from '../src/errors.js';
import { main as startServerMain } from '../src/server/main.js';
import { adminCommand } from './admin.js';

/** Exit codes: 0 ok, 1 failure (server, store, master key), 2 usage error. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/**
 * The `keyhold` command: `keyhold server` starts the server; `keyhold admin` administers
 * a stopped store. Client commands talk to a server over HTTPS through src/client.
 */
export function buildProgram(): Command {
  const program = new Command('keyhold')
    .description('Keyhold, a self-hosted Key Management Service')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText('after', '\nExample:\n  $ keyhold server        # same as npm start: https://127.0.0.1:8443 on the defaults');

  program
    .command('server')
    .description('start the Keyhold server (configuration from the environment and .env)')
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=/var/lib/keyhold KEYHOLD_PASSPHRASE_FILE=/etc/keyhold/passphrase keyhold server')
    .action(() => startServerMain());

  program.addCommand(adminCommand());
  for (const command of program.commands) command.exitOverride();
  for (const command of program.commands.flatMap((c) => c.commands)) command.exitOverride();
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are not errors; commander has printed the usage problem already.
    process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
  }
  const message = error instanceof StartupError ? error.message : (error as Error).message;
  process.stderr.write(`keyhold: ${message}\n`);
  process.exit(EXIT_FAILURE);
}
