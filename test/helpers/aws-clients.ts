import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { rememberSecret } from './secrets.js';

/**
 * The AWS tools the AWS-door tests drive as child processes: the `aws` CLI and a python3 that
 * imports boto3. Each is looked for once, when a suite first asks for it.
 */
let awsCliFound: boolean | undefined;
let boto3PythonFound: string | null | undefined;

/** Whether `aws` is on PATH and runs. */
export function awsCliAvailable(): boolean {
  awsCliFound ??= spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;
  return awsCliFound;
}

/**
 * A python3 that imports boto3: the first on PATH, else /usr/bin/python3 (where Debian's
 * python3-boto3 goes, which need not be the python3 first on PATH, e.g. under pyenv).
 */
export function boto3Python(): string | undefined {
  if (boto3PythonFound === undefined) {
    const candidates = ['python3', '/usr/bin/python3'];
    boto3PythonFound = candidates.find((python) => spawnSync(python, ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0) ?? null;
  }
  return boto3PythonFound ?? undefined;
}

/**
 * For a `before` hook of a suite that needs the aws CLI: under CI=true a missing CLI fails the
 * run; elsewhere the suite is skipped with a message saying how to install it.
 */
export function requireAwsCli(context: Mocha.Context): void {
  if (awsCliAvailable()) return;
  missing(context, 'the aws CLI', 'awscli');
}

/** Like requireAwsCli, for a python3 that imports boto3; returns that python3. */
export function requireBoto3(context: Mocha.Context): string {
  const python = boto3Python();
  if (python !== undefined) return python;
  return missing(context, 'boto3 (python3 -c "import boto3")', 'python3-boto3');
}

function missing(context: Mocha.Context, what: string, debianPackage: string): never {
  if (process.env.CI === 'true') {
    throw new Error(`${what} is required under CI=true but is not installed (apt-get install -y ${debianPackage})`);
  }
  console.log(`      ${what} is not installed: skipping (apt-get install -y ${debianPackage} to run these tests)`);
  context.skip();
}

/** The admin credential a server process wrote, as AWS clients take it. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The admin credential of a server's data directory (its secret remembered for the log check). */
export function adminAwsCredentials(dataDir: string): AwsCredentials {
  const file = JSON.parse(readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8')) as { AccessKeyId: string; SecretKey: string };
  rememberSecret(file.SecretKey);
  return { accessKeyId: file.AccessKeyId, secretAccessKey: file.SecretKey };
}

/**
 * The environment of an AWS client process: this process's, without any AWS_ or BOTO settings
 * of the machine (profiles, endpoints, tokens), with the given credentials, region us-east-1,
 * the server's certificate as the CA bundle, an empty HOME and no config or credential files.
 * One attempt per call: a retried state-changing request would be refused as a replay.
 */
export function awsClientEnv(credentials: AwsCredentials, caFile: string, home: string): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(AWS_|BOTO_|KEYHOLD_)/.test(name)),
  );
  return {
    ...inherited,
    HOME: home,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CA_BUNDLE: caFile,
    AWS_MAX_ATTEMPTS: '1',
    AWS_EC2_METADATA_DISABLED: 'true',
    // aws-cli v2 (Debian's awscli) pipes output through a pager unless told not to.
    AWS_PAGER: '',
  };
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end without blocking this process (the test's server writes its log
 * to a pipe this process reads); resolves with its exit code and output, whatever the code.
 */
export function runProcess(file: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs?: number }): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: options.env, cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
