import { crc32c } from '@aws-crypto/crc32c';
import { KMSInternalException, type KmsError } from '../../../errors.js';

/**
 * Google Cloud KMS's end-to-end integrity fields. The client library checks none of them:
 * the caller sends a CRC32C of each payload, Google says whether it matched
 * (`verified*Crc32c`), and the caller checks the CRC32C of what comes back.
 */

export function crc32cOf(bytes: Uint8Array): number {
  return crc32c(bytes);
}

/**
 * The number in a google.protobuf.Int64Value as the client library decodes it
 * (`{ value: '123' }`: longs arrive as strings), or undefined when the field is absent.
 */
export function int64Value(field: unknown): number | undefined {
  if (field === null || typeof field !== 'object' || !('value' in field)) return undefined;
  const value = (field as { value: unknown }).value;
  const text = typeof value === 'string' || typeof value === 'number' ? String(value) : String(value ?? '');
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  return Number(text);
}

/** A protobuf bytes field as a Buffer (the client gives Buffers; base64 text is accepted too). */
export function bytesOf(field: unknown): Buffer | undefined {
  if (field instanceof Uint8Array) return Buffer.from(field.buffer, field.byteOffset, field.byteLength);
  if (typeof field === 'string') return Buffer.from(field, 'base64');
  return undefined;
}

/** Whether `bytes` arrived intact: their CRC32C equals the one Google sent. */
export function matchesCrc32c(bytes: Uint8Array, crcField: unknown): boolean {
  const expected = int64Value(crcField);
  return expected !== undefined && expected === crc32cOf(bytes);
}

/** The one error for a response that failed any integrity check; no detail of which. */
export function integrityCheckFailed(operation: string): KmsError {
  return new KMSInternalException(`Google Cloud KMS ${operation} response: integrity check failed`);
}
