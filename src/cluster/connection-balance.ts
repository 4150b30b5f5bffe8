import type { Socket } from 'node:net';

/** The least time between two connections a worker sends away. */
export const SHED_INTERVAL_MS = 100;

/**
 * A worker's side of evening out the connections between workers (decision 117). Workers
 * accept connections from the shared socket themselves (decision 52), and the kernel does not
 * spread a burst of new connections: 64 opened at once by an idle server's client often all
 * went to one worker of two, which then did all the work on one core for as long as the
 * client kept them (half the throughput of a two-core server). So each worker counts its open
 * connections and tells the primary with its heartbeats; the primary answers with the fair
 * share (open connections of all workers ÷ workers); a worker holding more than that plus some
 * slack answers one request per connection in excess with `Connection: close`, one connection
 * per SHED_INTERVAL_MS at most, so that connections do not churn while the counts, a
 * heartbeat old, catch up. The client opens a new connection, which the less busy worker,
 * waiting for connections while the busy one serves requests, is the likelier to accept.
 * Nothing is shed without a fair share from a primary that answers (one worker, or the primary
 * frozen: decision 52 holds).
 *
 * @example
 *   const balance = new ConnectionBalance(() => primary.fairShare);
 *   server.on('secureConnection', balance.opened);
 *   // per request: if (balance.shed(req.socket)) res.setHeader('Connection', 'close');
 */
export class ConnectionBalance {
  private open = 0;
  /** Connections told to close whose close has not happened yet: they no longer count as this worker's. */
  private readonly closing = new WeakSet<Socket>();
  private closingCount = 0;
  private lastShed = -Infinity;

  /**
   * @param fairShare The primary's fair share, while it answers.
   * @param now The clock, in ms (performance.now; a test's own).
   */
  constructor(
    private readonly fairShare: () => number | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** This worker's open connections, for its heartbeats. */
  get connections(): number {
    return this.open;
  }

  /** Counts a new connection until it closes. */
  readonly opened = (socket: Socket): void => {
    this.open++;
    socket.once('close', () => {
      this.open--;
      if (this.closing.has(socket)) this.closingCount--;
    });
  };

  /** Whether the answer on `socket` should close it, because this worker holds more than its share. */
  shed(socket: Socket): boolean {
    const fair = this.fairShare();
    if (fair === undefined || this.closing.has(socket)) return false;
    if (this.open - this.closingCount <= fair + slackAbove(fair)) return false;
    const now = this.now();
    if (now - this.lastShed < SHED_INTERVAL_MS) return false;
    this.lastShed = now;
    this.closing.add(socket);
    this.closingCount++;
    return true;
  }
}

/** Connections above the fair share a worker keeps: a few, so that counts a heartbeat old do not make it shed back and forth. */
function slackAbove(fairShare: number): number {
  return Math.max(2, Math.ceil(fairShare / 8));
}
