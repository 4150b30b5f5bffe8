import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import v8 from 'node:v8';
import { expect } from 'chai';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import { ReplayMemory } from '../../src/auth/replay-guard.js';
import { StoreSnapshots } from '../../src/backup/snapshots.js';
import { createCallHandler, type CallTargets } from '../../src/cluster/calls.js';
import { CredentialService } from '../../src/kms/credential-service.js';
import { forwardChanges } from '../../src/cluster/forwarding-key-service.js';
import { PrimaryChannel, type WorkerPort } from '../../src/cluster/primary-channel.js';
import { toWireError, type PrimaryMessage, type WorkerMessage } from '../../src/cluster/protocol.js';
import { RemoteStore } from '../../src/cluster/remote-store.js';
import { KmsError } from '../../src/errors.js';
import { KeyService } from '../../src/kms/key-service.js';
import type { Store } from '../../src/store/store.js';
import { rejectionOf } from '../helpers/rejection.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { openTempStore } from '../helpers/temp-store.js';

/** What node's IPC does with `serialization: 'advanced'`: a copy through the V8 serializer. */
function overIpc<T>(message: T): T {
  return v8.deserialize(v8.serialize(message)) as T;
}

/**
 * A worker's channel and a primary's side of it in one process: the primary answers calls
 * with its own KeyService and store, and tells the worker of every commit, as src/cluster's
 * primary does (without node:cluster's processes).
 */
/** What the primary serves to its workers: the real ones, on the test's store. */
async function primaryTargets(store: Store, keyService: KeyService): Promise<CallTargets> {
  return {
    keyService,
    store,
    snapshots: new StoreSnapshots(store),
    credentials: await CredentialService.load(store, randomBytes(32)),
    audit: new AuditTrail(store),
    replay: new ReplayMemory(),
  };
}

class Loopback extends EventEmitter implements WorkerPort {
  connected = true;
  private forgetSequence = 0;
  private readonly forgets = new Map<number, () => void>();
  readonly forwarded: string[] = [];
  /** IPC messages the worker sent (a batch counts once). */
  messagesFromWorker = 0;
  /** While set, answers to calls wait here (in order) until `releaseAnswers()`. */
  private heldAnswers: PrimaryMessage[] | undefined;

  constructor(
    private readonly store: Store,
    targets: CallTargets,
    private readonly rootKey: Buffer,
  ) {
    super();
    const answer = createCallHandler(targets);
    this.onWorkerMessage = async (message) => {
      if (message.type === 'batch') {
        for (const each of message.messages) void this.onWorkerMessage(each);
        return;
      }
      if (message.type === 'ready') this.toWorker({ type: 'init', config: {} as never, port: 0, tls: { cert: '', key: '' }, rootKey: this.rootKey, journalId: '00000000-0000-4000-8000-000000000000', healthy: true, ready: true });
      if (message.type === 'forgotten') this.forgets.get(message.id)?.();
      if (message.type !== 'call') return;
      this.forwarded.push(`${message.target}.${message.method}`);
      try {
        this.toWorker({ type: 'result', id: message.id, value: await answer(message), healthy: this.store.isOpen });
      } catch (error) {
        this.toWorker({ type: 'error', id: message.id, error: toWireError(error), healthy: this.store.isOpen });
      }
    };
    store.onCommit(
      (change) =>
        new Promise<void>((resolve) => {
          const id = ++this.forgetSequence;
          this.forgets.set(id, resolve);
          this.toWorker({ type: 'forget', id, change });
        }),
    );
  }

  private readonly onWorkerMessage: (message: WorkerMessage) => Promise<void>;

  send(message: WorkerMessage, _handle?: undefined, _options?: object, sent?: (error: Error | null) => void): boolean {
    const copy = overIpc(message);
    this.messagesFromWorker++;
    setImmediate(() => {
      sent?.(null);
      void this.onWorkerMessage(copy);
    });
    return true;
  }

  /** Holds the answers to calls from now on, as a slow primary would; other messages go on. */
  holdAnswers(): void {
    this.heldAnswers ??= [];
  }

  get heldAnswerCount(): number {
    return this.heldAnswers?.length ?? 0;
  }

  /** Sends the answers held, in one batch message as the primary sends the answers of one turn. */
  releaseAnswers(): void {
    const held = this.heldAnswers ?? [];
    this.heldAnswers = undefined;
    if (held.length > 0) this.toWorker({ type: 'batch', messages: held });
  }

  toWorker(message: PrimaryMessage): void {
    if (this.heldAnswers && (message.type === 'result' || message.type === 'error')) {
      this.heldAnswers.push(message);
      return;
    }
    const copy = overIpc(message);
    setImmediate(() => this.emit('message', copy));
  }
}

describe('a cluster worker (src/cluster), with its primary in the same process', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let store: Store;
  let primaryService: KeyService;
  let targets: CallTargets;
  let loopback: Loopback;
  let channel: PrimaryChannel;
  let workerService: KeyService;
  /** What the worker's API calls: its KeyService, changes forwarded to the primary. */
  let api: KeyService;
  const rootKey = randomBytes(32);

  beforeEach(async () => {
    ({ dir, store } = await openTempStore());
    primaryService = new KeyService({ store, rootKey });
    targets = await primaryTargets(store, primaryService);
    loopback = new Loopback(store, targets, rootKey);
    channel = new PrimaryChannel(loopback);
    const init = await channel.init();
    expect(init!.rootKey.equals(rootKey)).to.equal(true);
    workerService = new KeyService({ store: new RemoteStore(channel), rootKey: init!.rootKey });
    channel.handle({ forget: (change) => workerService.forgetCached(change), shutdown() {}, disconnected() {}, failed() {} });
    api = forwardChanges(workerService, channel);
  });
  afterEach(async () => {
    store.onCommit(undefined);
    await store.close();
    dir.remove();
  });

  it('runs every change in the primary and reads and encrypts in the worker', async () => {
    const key = await api.createKey({ description: 'from a worker' });
    expect((await store.getKey(key.KeyId))!.description).to.equal('from a worker');
    const encrypted = await api.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('worker side') });
    expect((await primaryService.decrypt({ ciphertextBlob: encrypted.ciphertextBlob })).plaintext.toString()).to.equal('worker side');
    await api.aliases.create({ aliasName: 'alias/w', targetKeyId: key.KeyId }, { principal: 'test' });
    await api.rotation.rotateOnDemand({ keyId: 'alias/w' }, { principal: 'test' });
    await api.tagResource({ keyId: key.KeyId, tags: [{ TagKey: 'team', TagValue: 'a' }] });
    await api.disableKey({ keyId: key.KeyId });
    expect(loopback.forwarded.filter((call) => !call.startsWith('store.'))).to.deep.equal([
      'keyService.createKey',
      'aliases.create',
      'rotation.rotateOnDemand',
      'keyService.tagResource',
      'keyService.disableKey',
    ]);
    // The cold key's record and current version came in one read.
    expect(loopback.forwarded).to.include('store.getKeyWithVersion');
    expect(loopback.forwarded).to.not.include('store.getVersion');
    expect(await store.getKey(key.KeyId)).to.deep.include({ keyState: 'Disabled', currentVersion: 2, tags: [{ TagKey: 'team', TagValue: 'a' }] });
  });

  it('reads a cold key with its version in one call, and the calls of one turn in one message', async () => {
    const keyIds: string[] = [];
    for (let i = 0; i < 5; i++) keyIds.push((await primaryService.createKey({})).KeyId);
    const blob = (await primaryService.encrypt({ keyId: keyIds[0]!, plaintext: Buffer.from('old') })).ciphertextBlob;
    loopback.forwarded.length = 0;
    const messagesBefore = loopback.messagesFromWorker;
    const encrypted = await Promise.all(keyIds.slice(1).map((keyId) => api.encrypt({ keyId, plaintext: Buffer.from(keyId) })));
    expect((await api.decrypt({ ciphertextBlob: blob })).plaintext.toString()).to.equal('old');
    expect(loopback.forwarded).to.deep.equal(Array(5).fill('store.getKeyWithVersion'));
    // Four cold encrypts in one turn: one message; then the decrypt's read.
    expect(loopback.messagesFromWorker - messagesBefore).to.equal(2);
    for (const [i, result] of encrypted.entries()) {
      expect((await primaryService.decrypt({ ciphertextBlob: result.ciphertextBlob })).plaintext.toString()).to.equal(keyIds[i + 1]);
    }
    // Cached now: no more reads.
    await api.encrypt({ keyId: keyIds[1]!, plaintext: Buffer.from('again') });
    expect(loopback.forwarded).to.have.length(5);
  });

  it('forwards the creation of asymmetric keys as well', async () => {
    const key = await api.createKey({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' });
    const signed = await api.asymmetric.sign({ keyId: key.KeyId, message: Buffer.from('m'), signingAlgorithm: 'ECDSA_SHA_256' });
    expect((await primaryService.asymmetric.verify({ keyId: key.KeyId, message: Buffer.from('m'), signature: signed.signature, signingAlgorithm: 'ECDSA_SHA_256' })).keyId).to.equal(key.KeyId);
    const rsa = await api.createKey({ keySpec: 'RSA_2048', keyUsage: 'ENCRYPT_DECRYPT' });
    expect(await store.getKey(rsa.KeyId)).to.not.equal(undefined);
    expect(loopback.forwarded.filter((call) => call === 'keyService.createKey')).to.have.length(2);
  });

  it('gives back KmsErrors with their type, status and message', async () => {
    const error = await rejectionOf(api.disableKey({ keyId: '00000000-0000-4000-8000-000000000000' }), KmsError);
    expect(error).to.include({ type: 'NotFoundException', status: 404, message: "Key '00000000-0000-4000-8000-000000000000' does not exist" });
  });

  it('forgets a key disabled elsewhere before the change has answered', async () => {
    const key = await api.createKey({});
    await api.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('cached now') });
    // Another worker's change, as the primary runs it.
    await primaryService.disableKey({ keyId: key.KeyId });
    const error = await rejectionOf(api.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('x') }), KmsError);
    expect(error.type).to.equal('DisabledException');
  });

  it('does not cache what a cold read brought back when the key changed while it was on its way', async () => {
    const key = await primaryService.createKey({});
    loopback.holdAnswers();
    const encrypting = api.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('x') });
    // The primary has read the key, Enabled, but its answer has not reached the worker yet.
    while (loopback.heldAnswerCount < 1) await new Promise((resolve) => setImmediate(resolve));
    // Another worker's change: the worker forgets the key before the disable answers.
    await primaryService.disableKey({ keyId: key.KeyId });
    loopback.releaseAnswers();
    // The old answer is read again, not trusted: the key is disabled now, and stays so.
    expect((await rejectionOf(encrypting, KmsError)).type).to.equal('DisabledException');
    expect((await rejectionOf(api.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('x') }), KmsError)).type).to.equal('DisabledException');
    expect(loopback.forwarded.filter((call) => call === 'store.getKeyWithVersion')).to.have.length(2);
  });

  it('never uses a version key that another request pushed out of the cache meanwhile (a cache of one)', async () => {
    // Eviction zeroes a key, and the answers of one batch resume many requests in one turn.
    const small = new KeyService({ store: new RemoteStore(channel), rootKey, versionKeyCacheSize: 1 });
    const keyIds: string[] = [];
    for (let i = 0; i < 3; i++) keyIds.push((await primaryService.createKey({})).KeyId);
    // Every record cached; the one version key cached is the last key's.
    for (const keyId of keyIds) await small.encrypt({ keyId, plaintext: Buffer.from('warm') });
    loopback.holdAnswers();
    const encrypting = Promise.all(keyIds.slice(0, 2).map((keyId) => small.encrypt({ keyId, plaintext: Buffer.from(keyId) })));
    while (loopback.heldAnswerCount < 2) await new Promise((resolve) => setImmediate(resolve));
    loopback.releaseAnswers();
    for (const [i, result] of (await encrypting).entries()) {
      expect((await primaryService.decrypt({ ciphertextBlob: result.ciphertextBlob })).plaintext.toString()).to.equal(keyIds[i]);
    }
  });

  it('reads a cold asymmetric key without being sent its private key', async () => {
    const key = await primaryService.createKey({ keySpec: 'RSA_2048', keyUsage: 'ENCRYPT_DECRYPT' });
    const encrypted = await api.encrypt({ keyId: key.KeyId, plaintext: Buffer.from('rsa'), encryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    const decrypted = await primaryService.decrypt({ ciphertextBlob: encrypted.ciphertextBlob, keyId: key.KeyId, encryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    expect(decrypted.plaintext.toString()).to.equal('rsa');
    expect(loopback.forwarded).to.deep.include('store.getKeyWithVersion');
  });

  it('reencrypts to a destination only if it is still usable once the source has been read', async () => {
    const source = await primaryService.createKey({});
    const destination = await primaryService.createKey({});
    const blob = (await primaryService.encrypt({ keyId: source.KeyId, plaintext: Buffer.from('moving') })).ciphertextBlob;
    await api.encrypt({ keyId: destination.KeyId, plaintext: Buffer.from('warm') });
    loopback.holdAnswers();
    const moving = api.reEncrypt({ ciphertextBlob: blob, destinationKeyId: destination.KeyId });
    // The source's read is on its way when the destination is disabled elsewhere.
    while (loopback.heldAnswerCount < 1) await new Promise((resolve) => setImmediate(resolve));
    await primaryService.disableKey({ keyId: destination.KeyId });
    loopback.releaseAnswers();
    expect((await rejectionOf(moving, KmsError)).type).to.equal('DisabledException');
  });

  it('forgets the aliases when another worker changes one', async () => {
    const first = await api.createKey({});
    const second = await api.createKey({});
    await primaryService.aliases.create({ aliasName: 'alias/moving', targetKeyId: first.KeyId }, { principal: 'test' });
    expect((await api.encrypt({ keyId: 'alias/moving', plaintext: Buffer.from('x') })).keyId).to.equal(first.KeyId);
    await primaryService.aliases.update({ aliasName: 'alias/moving', targetKeyId: second.KeyId }, { principal: 'test' });
    expect((await api.encrypt({ keyId: 'alias/moving', plaintext: Buffer.from('x') })).keyId).to.equal(second.KeyId);
  });

  it('refuses to write through the store of a worker: a change that was not forwarded fails loudly', () => {
    const remote = new RemoteStore(channel);
    expect(() => remote.batch()).to.throw(/a worker cannot write to the store/);
    expect(() => remote.write()).to.throw(/a worker cannot write to the store/);
  });

  it('refuses a call that is not a primary call (a read of the service, or no such method)', async () => {
    const answer = createCallHandler(targets);
    for (const [target, method] of [['keyService', 'encrypt'], ['store', 'compact'], ['aliases', 'list'], ['keyService', 'constructor'], ['nothing', 'x']]) {
      const error = await rejectionOf(answer({ type: 'call', id: 1, target: target as never, method: method!, args: [] }), Error);
      expect(error.message).to.match(/is not a primary call/);
    }
  });

  it("refuses a worker's call of the scheduler (primary-only), whatever date it sends, and deletes nothing", async () => {
    const key = await api.createKey({});
    await api.scheduleKeyDeletion({ keyId: key.KeyId, pendingWindowInDays: 7 }, { principal: 'test' });
    const answer = createCallHandler(targets);
    const aYearOn = new Date(Date.now() + 365 * 24 * 3600 * 1000);
    const calls: [string, string, unknown[]][] = [
      ['keyService', 'deleteIfDue', [key.KeyId, aYearOn]],
      ['keyService', 'runScheduledWork', [aYearOn]],
      ['rotation', 'rotateIfDue', [key.KeyId, aYearOn]],
    ];
    for (const [target, method, args] of calls) {
      const error = await rejectionOf(answer({ type: 'call', id: 1, target: target as never, method, args: overIpc(args) }), Error);
      expect(error.message, method).to.match(/is not a primary call/);
    }
    expect((await store.getKey(key.KeyId))!.keyState).to.equal('PendingDeletion');
  });

  it('does not send the primary-only calls from a worker at all', async () => {
    const key = await api.createKey({});
    const sentBefore = loopback.forwarded.length;
    const error = await rejectionOf(api.deleteIfDue(key.KeyId, new Date(Date.now() + 365 * 24 * 3600 * 1000)), Error);
    expect(error.message).to.equal('keyService.deleteIfDue runs only in the primary process, on its own clock');
    await rejectionOf(api.runScheduledWork(), Error);
    await rejectionOf(api.rotation.rotateIfDue(key.KeyId, new Date()), Error);
    expect(loopback.forwarded.slice(sentBefore)).to.deep.equal([]);
  });

  it('is unhealthy (503) once the primary answers that its store is closed, or the channel is gone', async () => {
    expect(channel.healthy).to.equal(true);
    loopback.emit('message', { type: 'health', healthy: false });
    expect(channel.healthy).to.equal(false);
    loopback.emit('message', { type: 'health', healthy: true });
    expect(channel.healthy).to.equal(true);

    await store.close();
    await rejectionOf(api.describeKey({ keyId: '00000000-0000-4000-8000-000000000000' }), Error);
    expect(channel.healthy, 'after a failed read of the closed store').to.equal(false);

    loopback.emit('message', { type: 'health', healthy: true });
    loopback.connected = false;
    expect(channel.healthy).to.equal(false);
    const error = await rejectionOf(api.describeKey({ keyId: '00000000-0000-4000-8000-000000000000' }), KmsError);
    expect(error.type).to.equal('ServiceUnavailableException');
  });
});
