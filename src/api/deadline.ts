import { ServiceUnavailableException } from '../errors.js';

/**
 * The work's result, or a 503 ServiceUnavailableException once `timeoutMs` has passed without
 * one. The work is not stopped (a change may still be committed after the caller was told
 * 503), but the caller is never left waiting in silence.
 *
 * @example
 *   const result = await withinDeadline(action.handle(input, context), 5_000);
 */
export function withinDeadline<T>(work: T | Promise<T>, timeoutMs: number): Promise<T> {
  // An action that answered at once has nothing to wait for: no timer.
  if (!(work instanceof Promise)) return Promise.resolve(work);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ServiceUnavailableException(`The request did not complete within ${timeoutMs} ms`)), timeoutMs);
  });
  // A late failure of the work is settled here (race subscribes to it), never unhandled.
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
