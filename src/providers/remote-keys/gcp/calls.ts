import { setTimeout as sleep } from 'node:timers/promises';
import { Status } from 'google-gax';
import type { RemoteCallLimits } from '../remote-key-provider.js';

/** The gRPC statuses worth another attempt: the service was busy, unreachable or slow. */
const RETRYABLE_STATUSES: ReadonlySet<Status> = new Set([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED]);

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2000;

/** The gRPC status of an error from the client library, or undefined for anything else. */
export function grpcStatusOf(error: unknown): Status | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 16 ? (code as Status) : undefined;
}

/** The status's name (e.g. 'PERMISSION_DENIED'): the only part of a remote error we repeat. */
export function grpcStatusName(status: Status | undefined): string {
  return status === undefined ? 'no gRPC status' : (Status[status] ?? 'unknown status');
}

export function isRetryable(status: Status | undefined): boolean {
  return status !== undefined && RETRYABLE_STATUSES.has(status);
}

/** The instant by which one provider call, retries included, must be done. */
export function deadlineFrom(limits: RemoteCallLimits, now = Date.now()): number {
  return now + limits.timeoutMs;
}

/**
 * Runs `attempt` at most `limits.maxAttempts` times before `deadline`. Each attempt gets the
 * time that is left; only UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are retried,
 * after a jittered exponential pause. The last error is rethrown as is, for the caller to map.
 */
export async function withBoundedRetries<T>(
  limits: RemoteCallLimits,
  deadline: number,
  attempt: (timeoutMs: number) => Promise<T>,
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber++) {
    const remainingMs = deadline - Date.now();
    /* Precondition: time is left for another attempt. */
    if (remainingMs <= 0) throw deadlineExceeded();
    try {
      return await attempt(remainingMs);
    } catch (error) {
      if (!isRetryable(grpcStatusOf(error)) || attemptNumber >= limits.maxAttempts) throw error;
      const backoffMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attemptNumber - 1));
      const pauseMs = Math.min(backoffMs / 2 + Math.random() * (backoffMs / 2), deadline - Date.now());
      if (pauseMs <= 0) throw error;
      await sleep(pauseMs);
    }
  }
}

function deadlineExceeded(): Error & { code: Status } {
  return Object.assign(new Error('deadline exceeded before the call was sent'), { code: Status.DEADLINE_EXCEEDED });
}

/**
 * `work` if it settles before `deadline`; otherwise a DEADLINE_EXCEEDED error, as an RPC
 * would give (mapped and retried like one). `work` keeps running; its outcome is then ignored.
 */
export async function withinDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(deadlineExceeded()), Math.max(0, deadline - Date.now()));
    timer.unref();
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
