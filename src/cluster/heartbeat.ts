/**
 * How the primary and its workers notice that the other end stopped answering (a SIGSTOP, a
 * hung event loop, a process swapped out): both ends send a `heartbeat` over the IPC channel
 * every HEARTBEAT_INTERVAL_MS, and an end that has heard nothing from the other for
 * PEER_TIMEOUT_MS treats it as hung. Any message counts as a heartbeat.
 */

/** Small against PEER_TIMEOUT_MS, so that a few late beats on a loaded machine are no silence. */
export const HEARTBEAT_INTERVAL_MS = 100;

/**
 * The bound on waiting for the other process: a worker silent this long, or this late with a
 * change's confirmation, is killed and replaced; a worker that has not heard the primary this
 * long answers 503. A changing request waits at most about this (plus one interval) for a
 * frozen worker. A second is far above any turn of a healthy event loop measured here.
 */
export const PEER_TIMEOUT_MS = 1_000;

/**
 * How long a process that says it is about to block (`blocking`: loading AWS's or Google's SDK,
 * hundreds of ms of synchronous module loading on first use, over a second on a loaded machine)
 * may stay silent before the other end takes it for hung. A change still waits for a worker's
 * confirmation at most PEER_TIMEOUT_MS: the bound changes make is not traded for a module load.
 */
export const BLOCKING_BOUND_MS = 10_000;

/**
 * A tick at least this late means this process itself did not run meanwhile (it was stopped,
 * or its event loop blocked): it could not read the other end's messages, so their silence
 * over that time says nothing about them.
 */
const LATE_TICK_MS = 5 * HEARTBEAT_INTERVAL_MS;

/** A clock that keeps counting while the wall clock is set back (performance.now()). */
export type MonotonicClock = () => number;

/**
 * Calls `tick(now)` every HEARTBEAT_INTERVAL_MS; when this process was itself not running for
 * a while, calls `resumed(now)` first, so that the other end's silence during our own absence
 * is not held against it (its messages wait unread in the channel, and arrive just after).
 * Returns the function that stops it. The timer does not keep the process alive.
 *
 * @example
 *   const stop = startWatchdog((now) => checkPeers(now), (now) => forgiveSilence(now));
 */
export function startWatchdog(tick: (now: number) => void, resumed: (now: number) => void, clock: MonotonicClock = () => performance.now()): () => void {
  let last = clock();
  const timer = setInterval(() => {
    const now = clock();
    if (now - last >= LATE_TICK_MS) resumed(now);
    last = now;
    tick(now);
  }, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
