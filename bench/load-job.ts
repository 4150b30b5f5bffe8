/**
 * What the load generator is asked to do and what it answers. The load generator
 * (bench/load-generator.ts) is a child process of its own, so autocannon never shares a
 * process with a server; this file starts it and talks to it over IPC.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cleanEnv, exitOf, TSX } from './processes.js';

const LOAD_GENERATOR = fileURLToPath(new URL('./load-generator.ts', import.meta.url));

export interface LoadJob {
  /** `https://127.0.0.1:<port>`, one per node: the connections are split evenly over them. */
  origins: string[];
  /** e.g. `/api/v1/kms/encrypt`; `/` for the AWS door. */
  path: string;
  /** The AWS door's action (`Encrypt`): signed with SigV4 and sent with `X-Amz-Target: TrentService.<it>`. */
  awsTarget?: string;
  /** The JSON request body. */
  body: Record<string, unknown>;
  /** When given, one request per key: `body` with `KeyId` set to each, spread over the connections. */
  keyIds?: string[];
  /**
   * A body field given a distinct value in every request, each then signed anew: the server
   * refuses a state-changing request whose signature it has accepted before (issue 14).
   */
  uniqueField?: string;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  accessKeyId: string;
  /** Base64 of the credential's 32-byte secret. */
  secretKey: string;
}

export interface LoadResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers in the measured window. */
  requests: number;
  /** Answers in warm-up and measured window together. */
  allRequests: number;
  /** Answers that were not 2xx, plus connection errors and timeouts. */
  failures: number;
}

/** A load-generator child process that runs one job at a time. */
export class LoadGenerator {
  private constructor(
    readonly child: ChildProcess,
    private readonly exited: Promise<number | null>,
  ) {}

  static start(): LoadGenerator {
    const child = spawn(process.execPath, ['--import', TSX, LOAD_GENERATOR], {
      env: cleanEnv({}),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new LoadGenerator(child, exitOf(child));
  }

  /** Runs one job; `onWindowStart` is called when the warm-up ends and the measured window begins. */
  run(job: LoadJob, onWindowStart?: () => void): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load generator exited with ${code}`));
      const onMessage = (message: { measuring?: boolean; result?: LoadResult; error?: string }) => {
        if (message.measuring) {
          onWindowStart?.();
          return;
        }
        this.child.off('exit', onExit);
        this.child.off('message', onMessage);
        if (message.result) resolve(message.result);
        else reject(new Error(`load generator: ${message.error}`));
      };
      this.child.once('exit', onExit);
      this.child.on('message', onMessage);
      this.child.send(job);
    });
  }

  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await this.exited;
  }
}
