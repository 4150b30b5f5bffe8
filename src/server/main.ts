import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { StartupError } from '../errors.js';
import { createLogger } from '../runtime/logger.js';
import { startServer, type RunningServer } from './server.js';

/**
 * `npm start` / `keyhold server`: start on the configuration in the environment (and
 * `.env`), stop cleanly on SIGTERM or SIGINT. A start-up failure prints one line to
 * stderr and exits 1.
 */
export async function main(): Promise<void> {
  // Signals are handled from the very start: one that arrives while the server is still
  // starting stops it as soon as it is up, instead of killing the process half-way.
  let starting: Promise<RunningServer> | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      const server = await starting?.catch(() => undefined);
      if (!server) process.exit(1);
      await server.close();
      process.exit(0);
    })().catch((error: unknown) => {
      process.stderr.write(`keyhold: shutdown after ${signal} failed: ${(error as Error).message}\n`);
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  try {
    if (existsSync('.env')) process.loadEnvFile('.env');
    const config = loadConfig();
    const logger = createLogger(config.logLevel, undefined, config.logFormat);
    starting = startServer(config, logger);
    await starting;
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
