/** Callback of one send: told once the message is written, or why it could not be. */
export type Sent = (error: Error | null) => void;

/** The one IPC message that carries several: unpacked, in order, by the receiver. */
export interface BatchMessage<M> {
  type: 'batch';
  messages: M[];
}

/**
 * Sends the messages queued during one turn of the event loop as one IPC message. Under load
 * a worker asks the primary for many cold keys per turn, and each IPC message costs both
 * sides a serialisation, a system call and an event: one message for all of them took a cold
 * encrypt from about 162 to 146 µs of server CPU (bench/RESULTS.md).
 *
 * Order is kept: `queue` adds to the batch of this turn, `sendNow` first writes what is
 * queued and then its own message, so the receiver sees every message in the order given.
 */
export class MessageBatcher<M> {
  private queued: { message: M; sent: Sent | undefined }[] = [];
  private scheduled = false;

  /** `write` sends one IPC message; it may throw when the channel is closing. */
  constructor(private readonly write: (message: M | BatchMessage<M>, sent: Sent) => void) {}

  /** Sends `message` at the end of this turn of the event loop, with the others queued in it. */
  queue(message: M, sent?: Sent): void {
    this.queued.push({ message, sent });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends `message` now, after whatever is queued. */
  sendNow(message: M, sent?: Sent): void {
    this.flush();
    this.writeOne(message, (error) => sent?.(error));
  }

  /** Writes what is queued: one message as it is, several as one batch. */
  flush(): void {
    this.scheduled = false;
    const queued = this.queued;
    if (queued.length === 0) return;
    this.queued = [];
    if (queued.length === 1) {
      const [{ message, sent }] = queued as [(typeof queued)[number]];
      this.writeOne(message, (error) => sent?.(error));
      return;
    }
    this.writeOne({ type: 'batch', messages: queued.map((entry) => entry.message) }, (error) => {
      for (const entry of queued) entry.sent?.(error);
    });
  }

  private writeOne(message: M | BatchMessage<M>, sent: Sent): void {
    try {
      this.write(message, sent);
    } catch (error) {
      // The channel closed under us: the process's 'disconnect' or 'exit' handling follows.
      sent(error as Error);
    }
  }
}
