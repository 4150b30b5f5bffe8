import { UsageError } from './errors.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const RELATIVE = /^(\d{1,5})([smhd])$/;
// A calendar date first, as the server requires: Date.parse alone reads "1" or "May 5" too.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A `--since`/`--until` value as a Date: ISO 8601 (`2026-12-04`, `2026-12-04T14:03:07Z`,
 * `2026-12-04T15:03+01:00`), or a time before `now`: `30s`, `15m`, `2h`, `7d`.
 * Anything else is a UsageError (exit 2) naming the option.
 *
 * @example
 *   parseTimeArgument('--since', '15m', new Date('2026-12-04T14:00:00Z')); // 2026-12-04T13:45:00.000Z
 */
export function parseTimeArgument(option: string, value: string, now: Date): Date {
  const relative = RELATIVE.exec(value);
  const date = relative
    ? new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS])
    : ISO_8601.test(value) && isCalendarDate(value)
      ? new Date(value)
      : undefined;
  /* Precondition: the value is a valid time (Date.parse gives NaN for 2026-13-01 or T25:00). */
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new UsageError(`${option} expects an ISO 8601 time (2026-12-04T14:03:07Z) or a time ago such as 30s, 15m, 2h or 7d; got '${value.slice(0, 64)}'`);
  }
  return date;
}

/** Whether the day exists in its month: Date.parse rolls 2026-02-30 over to March 2. */
function isCalendarDate(value: string): boolean {
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  return month >= 1 && month <= 12 && day >= 1 && new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
}
