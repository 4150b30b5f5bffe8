import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { expect } from 'chai';
import { ConnectionBalance, SHED_INTERVAL_MS } from '../../src/cluster/connection-balance.js';

/** A connection as the balance sees it: something that emits 'close' once. */
function connection(): Socket {
  return new EventEmitter() as unknown as Socket;
}

/** A clock the test moves. */
function testClock() {
  const clock = { ms: 1_000, now: () => clock.ms };
  return clock;
}

/** Offers `sockets` to `balance` one request each, in order, a shed interval apart: the ones it sends away. */
function requestsAcross(balance: ConnectionBalance, clock: { ms: number }, sockets: Socket[]): Socket[] {
  const shed: Socket[] = [];
  for (const socket of sockets) {
    if (balance.shed(socket)) shed.push(socket);
    clock.ms += SHED_INTERVAL_MS;
  }
  return shed;
}

describe('ConnectionBalance', () => {
  it('sheds nothing without a fair share from the primary (one worker, or a primary that does not answer)', () => {
    const clock = testClock();
    const balance = new ConnectionBalance(() => undefined, clock.now);
    const sockets = Array.from({ length: 50 }, connection);
    sockets.forEach(balance.opened);
    expect(balance.connections).to.equal(50);
    expect(requestsAcross(balance, clock, sockets)).to.have.length(0);
  });

  it('sheds the connections above the fair share and its slack, each once, and counts them as gone until they close', () => {
    let fairShare = 10;
    const clock = testClock();
    const balance = new ConnectionBalance(() => fairShare, clock.now);
    const sockets = Array.from({ length: 16 }, connection);
    sockets.forEach(balance.opened);
    // 16 open, fair share 10, slack 2: four of them are to go, whichever requests come first.
    const shed = requestsAcross(balance, clock, sockets);
    expect(shed).to.deep.equal(sockets.slice(0, 4));
    expect(requestsAcross(balance, clock, shed), 'a socket told to close is not told twice').to.have.length(0);
    expect(balance.connections).to.equal(16);
    shed.forEach((socket) => (socket as unknown as EventEmitter).emit('close'));
    expect(balance.connections).to.equal(12);
    expect(requestsAcross(balance, clock, sockets)).to.have.length(0);
    // A larger share keeps more: 100 connections against a share of 80 keep 80 + 10.
    fairShare = 80;
    const many = Array.from({ length: 88 }, connection);
    many.forEach(balance.opened);
    expect(requestsAcross(balance, clock, [...sockets, ...many])).to.have.length(10);
  });

  it(`sends away at most one connection per ${SHED_INTERVAL_MS} ms, however many requests come in between`, () => {
    const clock = testClock();
    const balance = new ConnectionBalance(() => 10, clock.now);
    const sockets = Array.from({ length: 30 }, connection);
    sockets.forEach(balance.opened);
    // 30 open against 10 + 2: eighteen are to go, but requests at one instant send one away.
    expect(sockets.filter((socket) => balance.shed(socket))).to.deep.equal([sockets[0]]);
    clock.ms += SHED_INTERVAL_MS - 1;
    expect(sockets.filter((socket) => balance.shed(socket))).to.have.length(0);
    clock.ms += 1;
    expect(sockets.filter((socket) => balance.shed(socket))).to.deep.equal([sockets[1]]);
  });
});
