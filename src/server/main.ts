import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { StartupError } from '../errors.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';

/**
 * `npm start` / `keyhold server`: start on the configuration in the environment (and
 * `.env`), stop cleanly on SIGTERM or SIGINT. A start-up failure prints one line to
 * stderr and exits 1.
 */
export async function main(): Promise<void> {
  try {
    if (existsSync('.env')) process.loadEnvFile('.env');
    const config = loadConfig();
    const logger = createLogger(config.logLevel);
    const server = await startServer(config, logger);
    const stop = (signal: string) => {
      logger.info({ signal }, 'signal received');
      server.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  } catch (error) {
    const message = error instanceof StartupError ? error.message : `cannot start: ${(error as Error).message}`;
    process.stderr.write(`keyhold: ${message}\n`);
    process.exit(1);
  }
}

// Run when executed directly (node dist/src/server/main.js), not when imported.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  void main();
}
