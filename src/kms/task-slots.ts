/**
 * Runs at most `size` tasks at once; the others wait their turn, first come first served. For
 * work on libuv's thread pool (4 threads by default) that must leave threads free for the rest:
 * LevelDB's reads and writes run on the same pool.
 */
export class TaskSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.size) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The slot passes straight to the next in line, so `running` stays counted.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
