/**
 * A compile-time guard over KEY_SERVICE_CALLS: no call a worker forwards to the primary takes
 * a Date. The primary's clock decides what is due (deletions, rotations, freshness); a worker
 * that could pass its own `now` could make the primary delete a key early. What runs on the
 * primary's own clock is placed `primary-only`, which runsOnPrimary refuses from a worker.
 */
import type { AliasOperations } from '../kms/aliases.js';
import type { AsymmetricOperations } from '../kms/asymmetric-keys.js';
import type { ImportOperations } from '../kms/imports.js';
import type { KeyService } from '../kms/key-service.js';
import type { RotationOperations } from '../kms/rotation.js';
import type { KEY_SERVICE_CALLS } from './protocol.js';

/** The methods of `T` that `placement` forwards to the primary. */
type Forwarded<T, P> = { [K in keyof P & keyof T]: P[K] extends 'primary' ? K : never }[keyof P & keyof T];

/** Whether a function type has a parameter that may be a Date. */
type TakesDate<F> = F extends (...args: infer A) => unknown ? ([Extract<A[number], Date>] extends [never] ? false : true) : false;

/** The forwarded methods of `T` that take a Date: `never` when there is none. */
export type ForwardedClockArguments<T, P> = { [K in Forwarded<T, P>]: TakesDate<T[K]> extends true ? K : never }[Forwarded<T, P>];

type Calls = typeof KEY_SERVICE_CALLS;
type Offenders =
  | ForwardedClockArguments<KeyService, Calls['keyService']>
  | ForwardedClockArguments<AliasOperations, Calls['aliases']>
  | ForwardedClockArguments<RotationOperations, Calls['rotation']>
  | ForwardedClockArguments<AsymmetricOperations, Calls['asymmetric']>
  | ForwardedClockArguments<ImportOperations, Calls['imports']>;

/* Postcondition: placing a method that takes a Date on 'primary' fails to compile here, naming it. */
export const FORWARDED_CALLS_TAKE_NO_CLOCK: [Offenders] extends [never] ? true : { forwardedWithADate: Offenders } = true;
