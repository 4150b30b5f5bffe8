import { NotFoundException, ValidationException } from '../errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const KEY_RESOURCE_PREFIX = 'keyhold:key/';

/** The resource name of a key: `keyhold:key/<KeyId>`. */
export function keyArn(keyId: string): string {
  return KEY_RESOURCE_PREFIX + keyId;
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * Turns what a caller may send as KeyId (the UUID or the resource name) into the UUID.
 * A malformed id is a ValidationException; an alias that does not exist is NotFound.
 */
export function parseKeyId(value: string): string {
  if (isUuid(value)) return value.toLowerCase();
  if (value.startsWith(KEY_RESOURCE_PREFIX) && isUuid(value.slice(KEY_RESOURCE_PREFIX.length))) {
    return value.slice(KEY_RESOURCE_PREFIX.length).toLowerCase();
  }
  if (value.startsWith('alias/')) {
    throw new NotFoundException(`Alias '${value.slice(0, 256)}' does not exist`);
  }
  throw new ValidationException(
    "KeyId must be a key id (UUID), a key resource name 'keyhold:key/<uuid>', or an alias name",
  );
}
