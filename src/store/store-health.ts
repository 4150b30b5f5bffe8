import { ServiceUnavailableException } from '../errors.js';
import { DamagedValueError } from './checked-json.js';

/** What the store reports to whoever runs it (the server logs each, the cluster tells workers). */
export type StoreEvent =
  | { type: 'write-failed'; cause: string }
  | { type: 'reopen-failed'; cause: string; retryInMs: number }
  | { type: 'recovered'; afterMs: number }
  | { type: 'read-failed'; what: string; cause: string };

export type StoreEventListener = (event: StoreEvent) => void;

// The operating system's words for the faults an operator can fix, as LevelDB reports them.
const KNOWN_FAULTS: [RegExp, string][] = [
  [/no space left on device/i, 'no space left on device'],
  [/disk quota exceeded/i, 'disk quota exceeded'],
  [/read-only file system/i, 'read-only file system'],
  [/permission denied/i, 'permission denied'],
  [/input\/output error/i, 'input/output error'],
  [/too many open files/i, 'too many open files'],
];

/**
 * Why a LevelDB (or file) error means the store itself is at fault, in a few words that are
 * safe to answer with ("no space left on device", "damaged data: ..."); undefined for an
 * error of the caller's own making (an encoding error, a closed database while stopping).
 */
export function storeFaultCause(error: unknown): string | undefined {
  const code = (error as { code?: string }).code ?? '';
  const message = String((error as Error)?.message ?? '');
  const causeMessage = String((error as { cause?: Error }).cause?.message ?? '');
  const text = `${message} ${causeMessage}`;
  for (const [pattern, cause] of KNOWN_FAULTS) if (pattern.test(text)) return cause;
  if (code === 'LEVEL_CORRUPTION' || /corruption/i.test(text)) return `damaged data (${oneLine(message).slice(0, 200)})`;
  // A stored value that no longer parses, or is not what its kind of record must be: LevelDB read damaged bytes without noticing.
  if (code === 'LEVEL_DECODE_ERROR' || error instanceof DamagedValueError) return 'damaged data (a stored value does not decode)';
  if (code === 'LEVEL_IO_ERROR' || /^IO error/i.test(message) || /^E[A-Z]+$/.test(code)) return oneLine(message).slice(0, 200);
  return undefined;
}

/**
 * Whether the store can take writes. After any write error the store refuses writes (503,
 * naming the cause) until it has been closed and reopened: LevelDB keeps appending to a log
 * that a failed append has damaged, and the next open would drop what came after the damage.
 */
export class StoreHealth {
  private failure: InstanceType<typeof ServiceUnavailableException> | undefined;
  private readonly listeners = new Set<StoreEventListener>();

  get healthy(): boolean {
    return this.failure === undefined;
  }

  /** The error every write answers while the store cannot write. */
  get writeError(): InstanceType<typeof ServiceUnavailableException> | undefined {
    return this.failure;
  }

  /** Marks the store unable to write; true the first time (the caller starts the recovery). */
  fail(cause: string): boolean {
    if (this.failure) return false;
    this.failure = new ServiceUnavailableException(`The key store cannot write: ${cause}`);
    this.emit({ type: 'write-failed', cause });
    return true;
  }

  recovered(afterMs: number): void {
    this.failure = undefined;
    this.emit({ type: 'recovered', afterMs });
  }

  on(listener: StoreEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own: the store goes on.
      }
    }
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
