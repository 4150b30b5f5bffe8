import { setImmediate as nextTurn } from 'node:timers/promises';
import { expect } from 'chai';
import { MessageBatcher, type BatchMessage } from '../../src/cluster/message-batcher.js';

type Message = { n: number };

function recorder() {
  const written: (Message | BatchMessage<Message>)[] = [];
  let failWith: Error | undefined;
  const batcher = new MessageBatcher<Message>((message, sent) => {
    if (failWith) throw failWith;
    written.push(message);
    sent(null);
  });
  return { batcher, written, fail: (error: Error) => (failWith = error) };
}

describe('MessageBatcher (src/cluster)', () => {
  it('sends the messages queued in one turn as one batch, in order, at the end of the turn', async () => {
    const { batcher, written } = recorder();
    batcher.queue({ n: 1 });
    batcher.queue({ n: 2 });
    batcher.queue({ n: 3 });
    expect(written).to.deep.equal([]);
    await nextTurn();
    expect(written).to.deep.equal([{ type: 'batch', messages: [{ n: 1 }, { n: 2 }, { n: 3 }] }]);
  });

  it('sends a message queued alone as itself', async () => {
    const { batcher, written } = recorder();
    batcher.queue({ n: 1 });
    await nextTurn();
    batcher.queue({ n: 2 });
    await nextTurn();
    expect(written).to.deep.equal([{ n: 1 }, { n: 2 }]);
  });

  it('keeps the order when a message is sent now: what was queued goes first', async () => {
    const { batcher, written } = recorder();
    batcher.queue({ n: 1 });
    batcher.queue({ n: 2 });
    batcher.sendNow({ n: 3 });
    batcher.queue({ n: 4 });
    await nextTurn();
    expect(written).to.deep.equal([{ type: 'batch', messages: [{ n: 1 }, { n: 2 }] }, { n: 3 }, { n: 4 }]);
  });

  it("tells every message's callback how its batch went, also when the channel has closed", async () => {
    const { batcher, fail } = recorder();
    const outcomes: (string | null)[] = [];
    batcher.queue({ n: 1 }, (error) => outcomes.push(error && error.message));
    await nextTurn();
    fail(new Error('channel closed'));
    batcher.queue({ n: 2 }, (error) => outcomes.push(error && error.message));
    batcher.queue({ n: 3 }, (error) => outcomes.push(error && error.message));
    await nextTurn();
    batcher.sendNow({ n: 4 }, (error) => outcomes.push(error && error.message));
    expect(outcomes).to.deep.equal([null, 'channel closed', 'channel closed', 'channel closed']);
  });
});
