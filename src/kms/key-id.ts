const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const KEY_RESOURCE_PREFIX = 'keyhold:key/';

/** The resource name of a key: `keyhold:key/<KeyId>`. */
export function keyArn(keyId: string): string {
  return KEY_RESOURCE_PREFIX + keyId;
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
