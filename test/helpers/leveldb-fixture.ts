import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Level } from 'level';

/** Records per sync batch, and batches, of the fixture's two phases. */
const BATCH_SIZE = 100;

/** A value that compresses somewhat (so tables use Snappy), different for every record. */
function valueFor(index: number): string {
  return `value ${index} `.repeat(20) + Math.random().toString(36).repeat(4);
}

/**
 * Builds a real LevelDB store (level, as Keyhold opens it) in `directory` with both kinds of
 * file: tables from a first phase (closed, reopened and compacted), and a newest log of
 * about 150 KB (several 32 KiB blocks, one record spanning blocks) from a second phase.
 */
export async function buildLevelDbFixture(directory: string): Promise<void> {
  const first = new Level<string, string>(directory);
  for (let batch = 0; batch < 20; batch++) {
    const ops = Array.from({ length: BATCH_SIZE }, (_, i) => ({ type: 'put' as const, key: `a${batch * BATCH_SIZE + i}`, value: valueFor(i) }));
    await first.batch(ops, { sync: true });
  }
  await first.close();
  const second = new Level<string, string>(directory);
  await second.open();
  await (second as unknown as { compactRange(start: string, end: string): Promise<void> }).compactRange('', '~');
  for (let batch = 0; batch < 3; batch++) {
    const ops = Array.from({ length: BATCH_SIZE }, (_, i) => ({ type: 'put' as const, key: `b${batch * BATCH_SIZE + i}`, value: valueFor(i) }));
    await second.batch(ops, { sync: true });
  }
  // One record larger than a block: FIRST, MIDDLE and LAST fragments.
  await second.put('big', 'x'.repeat(80 * 1024), { sync: true } as never);
  for (let i = 0; i < 20; i++) await second.put(`c${i}`, valueFor(i), { sync: true } as never);
  await second.close();
}

/** A copy of a fixture to damage. */
export function copyFixture(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
}

/** The file of `directory` matching `pattern` with the highest number (newest log, a table). */
export function newestFile(directory: string, pattern: RegExp): string {
  const names = readdirSync(directory).filter((name) => pattern.test(name));
  if (names.length === 0) throw new Error(`no file matching ${pattern} in ${directory}`);
  const newest = names.sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10)).at(-1)!;
  return path.join(directory, newest);
}

/** The largest file matching `pattern`: the table with the most blocks. */
export function largestFile(directory: string, pattern: RegExp): string {
  const names = readdirSync(directory).filter((name) => pattern.test(name));
  const largest = names.sort((a, b) => statSync(path.join(directory, a)).size - statSync(path.join(directory, b)).size).at(-1);
  if (!largest) throw new Error(`no file matching ${pattern} in ${directory}`);
  return path.join(directory, largest);
}

/** XORs one byte of a file with `mask` (1..255), so that it certainly changes. */
export function flipByte(file: string, offset: number, mask = 0xff): void {
  const bytes = readFileSync(file);
  if (offset < 0 || offset >= bytes.length) throw new Error(`offset ${offset} outside ${file}`);
  bytes[offset]! ^= mask;
  writeFileSync(file, bytes);
}
