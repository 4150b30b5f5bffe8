import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { withinDeadline } from '../../src/api/deadline.js';
import { HEARTBEAT_INTERVAL_MS, PEER_TIMEOUT_MS, startWatchdog } from '../../src/cluster/heartbeat.js';
import { PrimaryChannel, type WorkerPort } from '../../src/cluster/primary-channel.js';
import type { PrimaryMessage, WorkerMessage } from '../../src/cluster/protocol.js';
import { KmsError } from '../../src/errors.js';
import { rejectionOf } from '../helpers/rejection.js';

/** A worker's end of the channel whose primary says nothing unless the test makes it. */
class SilentPrimary extends EventEmitter implements WorkerPort {
  connected = true;
  readonly sent: WorkerMessage[] = [];
  send(message: WorkerMessage, _handle?: undefined, _options?: object, callback?: (error: Error | null) => void): boolean {
    this.sent.push(...(message.type === 'batch' ? message.messages : [message]));
    callback?.(null);
    return true;
  }
  say(message: PrimaryMessage): void {
    this.emit('message', message);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('heartbeats between the primary and its workers (src/cluster/heartbeat.ts)', function () {
  this.timeout(30_000);

  it('a worker treats a primary silent for PEER_TIMEOUT_MS as hung: 503 naming the cause, then healthy again once heard', async () => {
    const port = new SilentPrimary();
    const channel = new PrimaryChannel(port);
    const hung: boolean[] = [];
    channel.handle({ forget() {}, shutdown() {}, disconnected() {}, failed() {}, primaryHung: (value) => hung.push(value) });
    channel.watchPrimary();
    const waiting = channel.call('store', 'getKey', ['some-key']);
    expect(channel.healthy).to.equal(true);

    const error = await rejectionOf(waiting, KmsError);
    expect(error).to.include({ type: 'ServiceUnavailableException', status: 503, message: `The primary process did not answer within ${PEER_TIMEOUT_MS} ms` });
    expect(channel.healthy).to.equal(false);
    expect(hung).to.deep.equal([true]);
    expect(port.sent.filter((message) => message.type === 'heartbeat').length, 'heartbeats sent meanwhile').to.be.greaterThan(2);
    // A call made while the primary is hung fails at once instead of waiting.
    expect(await rejectionOf(channel.call('store', 'listAliases', []), KmsError)).to.include({ status: 503 });

    port.say({ type: 'heartbeat' });
    expect(channel.healthy).to.equal(true);
    expect(hung).to.deep.equal([true, false]);
    port.connected = false;
    port.emit('disconnect');
  });

  it('does not hold the silence of the other end against it when this process itself did not run', async () => {
    let clockSkip = 0;
    const resumed: number[] = [];
    const ticks: number[] = [];
    const stop = startWatchdog(
      (now) => ticks.push(now),
      (now) => resumed.push(now),
      () => performance.now() + clockSkip,
    );
    await sleep(HEARTBEAT_INTERVAL_MS * 3);
    expect(resumed, 'resumed on time').to.deep.equal([]);
    // As after a SIGSTOP: the next tick comes a long time after the one before.
    clockSkip = PEER_TIMEOUT_MS * 5;
    await sleep(HEARTBEAT_INTERVAL_MS * 3);
    stop();
    expect(resumed).to.have.length(1);
    expect(ticks.length).to.be.greaterThan(2);
  });
});

describe('withinDeadline (src/api/deadline.ts)', () => {
  it('gives the result of work done in time, and of work done at once', async () => {
    expect(await withinDeadline(sleep(5).then(() => 'done'), 1_000)).to.equal('done');
    expect(await withinDeadline('now', 1)).to.equal('now');
  });

  it('rejects with 503 ServiceUnavailableException once the deadline has passed', async () => {
    const started = performance.now();
    const error = await rejectionOf(withinDeadline(new Promise(() => {}), 200), KmsError);
    expect(error).to.include({ type: 'ServiceUnavailableException', status: 503, message: 'The request did not complete within 200 ms' });
    expect(performance.now() - started).to.be.at.least(190);
  });

  it('keeps the work\'s own failure when it comes first', async () => {
    const error = await rejectionOf(withinDeadline(Promise.reject(new Error('its own')), 1_000), Error);
    expect(error).to.have.property('message', 'its own');
  });
});
