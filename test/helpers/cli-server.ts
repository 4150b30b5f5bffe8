import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { KeyholdClient } from '../../src/client/index.js';
import { runCli, type CliResult } from './cli.js';
import { rememberSecret } from './secrets.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { makeTempDir } from './temp-dir.js';

export interface CliServer {
  server: ServerProcess;
  /** The server's working directory: `keyhold` run there finds ./data/admin.credentials. */
  cwd: string;
  adminCredentials: { AccessKeyId: string; SecretKey: string; Url: string; CertSha256: string };
  /** The admin credential's client, for setting the scene without a process per call. */
  admin: KeyholdClient;
  /** Everything every `keyhold` run of this server wrote on stderr. */
  stderrs: string[];
  keyhold(args: string[], options?: { env?: Record<string, string>; input?: Buffer | string }): Promise<CliResult>;
  /** `keyhold` expected to exit 0 with JSON on stdout. */
  json(args: string[]): Promise<any>;
  /** `keyhold` expected to exit 0 and print nothing (a change whose answer was not asked for). */
  quiet(args: string[]): Promise<void>;
  close(): Promise<void>;
}

/** A real server process in a temp dir, and the real `keyhold` command line to talk to it. */
export async function startCliServer(passphrase: string): Promise<CliServer> {
  rememberSecret(passphrase);
  const work = makeTempDir('keyhold-cli-');
  const config = makeTempDir('keyhold-cli-config-');
  const server = await startServerProcess({ KEYHOLD_DATA_DIR: path.join(work.path, 'data'), KEYHOLD_PASSPHRASE: passphrase }, work.path);
  const adminCredentials = JSON.parse(readFileSync(path.join(work.path, 'data', 'admin.credentials'), 'utf8'));
  rememberSecret(adminCredentials.SecretKey);
  const admin = KeyholdClient.fromCredentialsFile(path.join(work.path, 'data', 'admin.credentials'));
  const stderrs: string[] = [];
  // The admin credentials file named explicitly (a `--credentials` flag still wins): the CLI
  // then says nothing about falling back to ./data/admin.credentials.
  const adminFile = path.join(work.path, 'data', 'admin.credentials');
  const keyhold: CliServer['keyhold'] = async (args, options = {}) => {
    const env = { XDG_CONFIG_HOME: config.path, KEYHOLD_CREDENTIALS_FILE: adminFile, ...options.env };
    const result = await runCli(args, { cwd: work.path, env, input: options.input });
    stderrs.push(result.stderr);
    return result;
  };
  return {
    server,
    cwd: work.path,
    adminCredentials,
    admin,
    stderrs,
    keyhold,
    async json(args) {
      const result = await keyhold(args);
      expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(0);
      return JSON.parse(result.stdout.toString());
    },
    async quiet(args) {
      const result = await keyhold(args);
      expect(result.code, `keyhold ${args.join(' ')}: ${result.stderr}`).to.equal(0);
      expect(result.stdout.toString(), `keyhold ${args.join(' ')}`).to.equal('');
    },
    async close() {
      admin.close();
      await server.stop();
      work.remove();
      config.remove();
    },
  };
}
