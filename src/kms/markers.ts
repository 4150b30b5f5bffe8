import { ValidationException } from '../errors.js';

/**
 * Opaque pagination markers: `<kind>:<position>` in base64url. The kind stops a marker of
 * one listing from being replayed against another.
 */
export function encodeMarker(kind: string, position: string): string {
  return Buffer.from(`${kind}:${position}`).toString('base64url');
}

export function decodeMarker(marker: string, kind: string, action: string): string {
  const decoded = Buffer.from(marker, 'base64url').toString('utf8');
  if (!decoded.startsWith(`${kind}:`) || decoded.length === kind.length + 1 || decoded.length > 512) {
    throw new ValidationException(`Marker is not a marker returned by ${action}`);
  }
  return decoded.slice(kind.length + 1);
}
