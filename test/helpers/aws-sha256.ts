import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

/**
 * node:crypto in the shape @smithy/signature-v4's signer takes for `sha256` (a hash, or an HMAC
 * keyed by `secret`): what the AWS SDKs plug in, for tests and benches that sign as they do.
 */
export class NodeSha256 {
  private digester: Hash | Hmac;

  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.digester = NodeSha256.make(secret);
  }

  private static make(secret?: string | ArrayBuffer | ArrayBufferView): Hash | Hmac {
    if (secret === undefined) return createHash('sha256');
    if (typeof secret === 'string') return createHmac('sha256', secret);
    const bytes = ArrayBuffer.isView(secret) ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength) : Buffer.from(secret);
    return createHmac('sha256', bytes);
  }

  update(data: Uint8Array): void {
    this.digester.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.digester.digest());
  }

  reset(): void {
    this.digester = NodeSha256.make(this.secret);
  }
}
