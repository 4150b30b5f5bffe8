// The baseline for encrypt-file/decrypt-file: one AES-256-GCM stream over the whole file with
// node:crypto alone, fsynced at the end like Keyhold's output. Usage: encrypt|decrypt IN OUT
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fsyncSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';

const [mode, input, output] = process.argv.slice(2);
const key = Buffer.alloc(32, 1);
const iv = Buffer.alloc(12, 2);
if (mode === 'encrypt') {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  await pipeline(createReadStream(input), cipher, createWriteStream(output));
  writeFileSync(`${output}.tag`, cipher.getAuthTag());
} else {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(readFileSync(`${input}.tag`));
  await pipeline(createReadStream(input), decipher, createWriteStream(output));
}
const descriptor = openSync(output, 'r+');
fsyncSync(descriptor);
closeSync(descriptor);
