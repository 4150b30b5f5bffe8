// The public face of src/crypto: pure functions over bytes, importing nothing else of Keyhold.
export * from './types.js';
export * from './errors.js';
export * from './encryption-context.js';
export * from './ciphertext-codec.js';
export * from './envelope.js';
export * from './key-wrap.js';
export * from './key-import.js';
