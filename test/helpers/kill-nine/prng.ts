/**
 * A small seeded pseudo-random generator (mulberry32). The kill -9 schedule comes from it, so a
 * failing run is replayed by its seed. Not for anything secret: it is predictable by design.
 */
export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    /* Precondition: there is something to pick. */
    if (items.length === 0) throw new RangeError('pick needs at least one item');
    return items[Math.floor(this.next() * items.length)]!;
  }

  bytes(length: number): Buffer {
    return Buffer.from(Array.from({ length }, () => this.int(0, 255)));
  }
}

/** The seed from `variable` (a decimal integer) when set, else a fresh one. */
export function seedFrom(variable: string | undefined): number {
  if (variable === undefined || variable === '') return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(variable);
  /* Precondition: a seed is a non-negative integer that fits 32 bits. */
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`a seed is an integer from 0 to 2^32-1, not '${variable}'`);
  return seed;
}
