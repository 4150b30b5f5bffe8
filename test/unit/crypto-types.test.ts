import { Buffer } from 'node:buffer';
import { expect } from 'chai';
import { asRootKey, asVersionKey, asWrappedKey } from '../../src/crypto/index.js';

describe('crypto key types', () => {
  it('brands 32 bytes as a version key or root key without copying', () => {
    const bytes = Buffer.alloc(32, 7);
    expect(asVersionKey(bytes)).to.equal(bytes);
    expect(asRootKey(bytes)).to.equal(bytes);
  });

  it('Precondition: a key is exactly 32 bytes.', () => {
    for (const length of [0, 16, 31, 33, 64]) {
      expect(() => asVersionKey(Buffer.alloc(length))).to.throw(TypeError, 'a version key must be 32 bytes');
      expect(() => asRootKey(Buffer.alloc(length))).to.throw(TypeError, 'a root key must be 32 bytes');
    }
  });

  it('brands wrapped material of any length, leaving the check to unwrapKey', () => {
    const bytes = Buffer.alloc(5);
    expect(asWrappedKey(bytes)).to.equal(bytes);
  });
});
