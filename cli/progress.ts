/**
 * A progress line on stderr for the file commands, for the person watching: drawn only when
 * stderr is a terminal and the input is over PROGRESS_THRESHOLD bytes, redrawn at most every
 * REDRAW_MS, and replaced at the end by the bytes done and the throughput. A script (stderr a
 * pipe or a file) never sees it.
 */

/** Inputs up to this size finish too fast for a bar to help: 4 MiB. */
export const PROGRESS_THRESHOLD = 4 * 1024 * 1024;
const REDRAW_MS = 100;
/** Carriage return, then erase to the end of the line: the next drawing replaces this one. */
const REWRITE_LINE = '\r\x1b[K';

export interface ProgressTerminal {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Counts `bytes` more of the input. */
  advance(bytes: number): void;
  /** Ends the line: the totals after success, nothing (the line erased) after a failure. */
  finish(succeeded: boolean): void;
}

/** Whether to draw at all: `--no-progress` not given, and stderr a terminal. */
export function progressWanted(option: boolean | undefined, terminal: ProgressTerminal = process.stderr): boolean {
  return option !== false && terminal.isTTY === true;
}

/**
 * A progress line for `label` over an input of `total` bytes (undefined: stdin, size unknown).
 * Nothing is drawn until PROGRESS_THRESHOLD bytes have passed, or at all for a file under it.
 *
 * @example
 *   const progress = startProgress('encrypt-file', size);
 *   progress.advance(chunk.length); … progress.finish(true);
 */
export function startProgress(label: string, total: number | undefined, terminal: ProgressTerminal = process.stderr, now: () => number = Date.now): Progress {
  const started = now();
  let done = 0;
  let drawn = false;
  let lastDraw = 0;
  const eligible = () => (total === undefined ? done > PROGRESS_THRESHOLD : total > PROGRESS_THRESHOLD);
  return {
    advance(bytes) {
      done += bytes;
      const time = now();
      if (!eligible() || time - lastDraw < REDRAW_MS) return;
      lastDraw = time;
      drawn = true;
      const share = total ? `${Math.min(100, Math.floor((done / total) * 100))
        .toString()
        .padStart(3)}%  ${size(done)} of ${size(total)}` : size(done);
      terminal.write(`${REWRITE_LINE}${label}  ${share}  ${rate(done, time - started)}`);
    },
    finish(succeeded) {
      if (!drawn && !(succeeded && eligible())) return;
      const elapsed = now() - started;
      terminal.write(succeeded ? `${REWRITE_LINE}${label}: ${size(done)} in ${(elapsed / 1000).toFixed(1)} s, ${rate(done, elapsed)}\n` : REWRITE_LINE);
    },
  };
}

/** Bytes in binary units, one decimal: `512 B`, `3.5 KiB`, `120.0 MiB`, `2.1 GiB`. */
export function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function rate(bytes: number, elapsedMs: number): string {
  return `${size(Math.round(bytes / Math.max(elapsedMs / 1000, 0.001)))}/s`;
}
