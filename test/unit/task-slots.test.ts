import { expect } from 'chai';
import { TaskSlots } from '../../src/kms/task-slots.js';

/** A task that runs until released, noting how many ran at once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('TaskSlots', () => {
  it('runs at most `size` tasks at once, the rest in the order they came', async () => {
    const slots = new TaskSlots(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, gate);
    const done = gates.map((g, index) =>
      slots.run(async () => {
        started.push(index);
        most = Math.max(most, ++running);
        await g.opened;
        running--;
        return index;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).to.deep.equal([0, 1]);
    gates[1]!.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).to.deep.equal([0, 1, 2]);
    for (const g of gates) g.open();
    expect(await Promise.all(done)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(started).to.deep.equal([0, 1, 2, 3, 4]);
    expect(most).to.equal(2);
  });

  it('frees the slot of a task that fails', async () => {
    const slots = new TaskSlots(1);
    const failed = slots.run(async () => {
      throw new Error('task failed');
    });
    const next = slots.run(async () => 'ran');
    await failed.then(
      () => expect.fail('should reject'),
      (error: Error) => expect(error.message).to.equal('task failed'),
    );
    expect(await next).to.equal('ran');
    expect(await slots.run(async () => 'and again')).to.equal('and again');
  });
});
