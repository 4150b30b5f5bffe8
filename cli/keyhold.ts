import { Command } from 'commander';
import { main as startServerMain } from '../src/server/main.js';

/**
 * The `keyhold` command. For now it starts the server; the client commands (keys,
 * encrypt, decrypt, …) talk to a server over HTTPS through src/client.
 */
export function buildProgram(): Command {
  const program = new Command('keyhold')
    .description('Keyhold, a self-hosted Key Management Service')
    .showHelpAfterError()
    .addHelpText('after', '\nExample:\n  $ keyhold server        # same as npm start: https://127.0.0.1:8443 on the defaults');

  program
    .command('server')
    .description('start the Keyhold server (configuration from the environment and .env)')
    .addHelpText('after', '\nExample:\n  $ KEYHOLD_DATA_DIR=/var/lib/keyhold KEYHOLD_PASSPHRASE_FILE=/etc/keyhold/passphrase keyhold server')
    .action(() => startServerMain());

  return program;
}

await buildProgram().parseAsync(process.argv);
