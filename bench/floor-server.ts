/**
 * The floor: a bare node:https server, one process, that does for an encrypt request only
 * what Keyhold's protocol and ciphertext format 2 cannot do without, written straight on node:crypto,
 * and answers with the same headers and the same size of body as Keyhold. What it cannot
 * reach, Keyhold cannot either: it measures how much of the gap to the baseline is the
 * protocol's own cost, and how much is Keyhold's (validation, key lookup, error handling).
 *
 * Per request: the body's SHA-256 compared with X-Kms-Content-Sha256; the HMAC-SHA256
 * signature over the string to sign, compared in constant time (the date is not checked);
 * JSON.parse and base64 of the plaintext; format 2's message key (one HMAC: HKDF-Expand from the
 * version key's PRK, extracted once at start as Keyhold caches it) and AES-256-GCM of the
 * plaintext under it, the IV from the salt, the blob's head and salt as AAD;
 * the blob in base64 in a JSON answer with X-Request-Id, Keyhold's security headers and the
 * content headers, in one writeHead. No store: one key, held in memory.
 *
 * With FLOOR_WORKERS above 1, that many processes (node:cluster, round-robin like Keyhold's
 * HTTP workers) share the port; the first process only forks them.
 *
 * Run by bench/processes.ts with BASELINE_CERT, BASELINE_KEY and FLOOR_SECRET_KEY (the bench
 * credential's secret, base64); prints "listening on <port>".
 */
import { createCipheriv, createHmac, hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { securityHeaders } from '../src/api/security-headers.js';
import { serveBare } from './bare-server.js';

const secretKey = Buffer.from(process.env.FLOOR_SECRET_KEY ?? '', 'base64');
if (secretKey.length !== 32) throw new Error('FLOOR_SECRET_KEY must be 32 bytes in base64');
const versionKey = randomBytes(32);
const keyId = randomUUID();
const head = Buffer.alloc(21, 2); // format 2's head: format byte, KeyId, key version
const label = Buffer.from('keyhold/v2/dek');
// Format 2's HKDF-Extract of the version key, made once (Keyhold caches it with the version key).
const prk = createHmac('sha256', 'keyhold/v2').update(versionKey).digest();
const template = ['X-Request-Id', '', ...securityHeaders().flat(), 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', ''];

function refuse(res: ServerResponse, status: number): void {
  res.writeHead(status).end();
}

serveBare((req, res, body) => {
  const contentSha256 = req.headers['x-kms-content-sha256'];
  const date = req.headers['x-kms-date'];
  const signature = /Signature=(\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (typeof contentSha256 !== 'string' || typeof date !== 'string' || !signature) return refuse(res, 401);
  if (hash('sha256', body, 'hex') !== contentSha256.toLowerCase()) return refuse(res, 401);
  const expected = createHmac('sha256', secretKey).update(`${req.method}\n${req.url}\n${date}\n${contentSha256}`).digest();
  const given = Buffer.from(signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse(res, 403);
  let plaintext: Buffer;
  try {
    plaintext = Buffer.from((JSON.parse(body.toString('utf8')) as { Plaintext: string }).Plaintext, 'base64');
  } catch {
    return refuse(res, 400);
  }
  const salt = randomBytes(32);
  const dek = createHmac('sha256', prk).update(label).update(head).update(salt).update(Buffer.of(1)).digest();
  const cipher = createCipheriv('aes-256-gcm', dek, salt.subarray(0, 12), { authTagLength: 16 });
  cipher.setAAD(Buffer.concat([head, salt]));
  const blob = Buffer.concat([head, salt, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  const json = JSON.stringify({ CiphertextBlob: blob.toString('base64'), KeyId: keyId, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
  const headers = template.slice();
  headers[1] = randomUUID();
  headers[headers.length - 1] = String(Buffer.byteLength(json));
  res.writeHead(200, headers);
  res.end(json);
}, Number(process.env.FLOOR_WORKERS ?? 1));
