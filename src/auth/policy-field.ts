import { ValidationException } from '../errors.js';

/** At most this many characters of user input are repeated in an error message. */
const MAX_ECHO = 64;

/**
 * A policy's rejection: `<field path>: <problem>`, e.g.
 * `Policy.Statement[2] (Sid "orders").Action[0]: "kms:Encrpyt" matches no action`.
 */
export function invalidField(path: string, problem: string): InstanceType<typeof ValidationException> {
  return new ValidationException(`${path}: ${problem}`);
}

/** User input for a message: quoted, control characters escaped, cut to 64 characters. */
export function quote(value: string): string {
  const shown = value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}…` : value;
  return JSON.stringify(shown);
}

/** An unknown field's name for a path: as it is when it is a plain word, else quoted and cut. */
export function fieldName(name: string): string {
  return /^[A-Za-z]{1,64}$/.test(name) ? name : quote(name);
}

/** What a JSON value is, for "must be a string, got a number". */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A plain JSON object: what JSON.parse makes for `{…}`. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * A string or a non-empty list of strings (the form of Action, Resource and condition values),
 * as a list; anything else is a ValidationException naming `path`.
 */
export function stringOrList(value: unknown, path: string): readonly string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) throw invalidField(path, `must be a string or a list of strings, got ${describeType(value)}`);
  if (value.length === 0) throw invalidField(path, 'must not be an empty list');
  value.forEach((item, index) => {
    if (typeof item !== 'string') throw invalidField(`${path}[${index}]`, `must be a string, got ${describeType(item)}`);
  });
  return value as string[];
}

/** The path of entry `index` of a field that was a string or a list. */
export function itemPath(path: string, value: unknown, index: number): string {
  return Array.isArray(value) ? `${path}[${index}]` : path;
}
