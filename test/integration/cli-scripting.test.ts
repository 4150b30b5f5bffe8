import { expect } from 'chai';
import { startCliServer, type CliServer } from '../helpers/cli-server.js';

describe('the keyhold command line in scripts: paging, --query, --output text, quiet changes', function () {
  this.timeout(180_000);
  let h: CliServer;
  let keyIds: string[];
  let tagged: string;

  before(async () => {
    h = await startCliServer('cli scripting suite passphrase, long enough');
    for (let i = 0; i < 7; i++) await h.admin.createKey({ description: `scripting ${i}` });
    keyIds = (await h.admin.call<{ Keys: { KeyId: string }[] }>('listkeys', { Limit: 1000 })).Keys.map((key) => key.KeyId);
    tagged = keyIds[0]!;
    await h.admin.call('tagresource', { KeyId: tagged, Tags: ['a', 'b', 'c', 'd', 'e'].map((name) => ({ TagKey: name, TagValue: `value-${name}` })) });
  });
  after(() => h.close());

  const ids = (answer: { Keys: { KeyId: string }[] }) => answer.Keys.map((key) => key.KeyId);

  async function usageError(args: string[], message: RegExp): Promise<void> {
    const result = await h.keyhold(args);
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.match(message);
    expect(result.stdout.toString()).to.equal('');
  }

  describe('list commands page through everything by default', () => {
    it('keys list with --page-size 2 gives every key, in order, with no NextToken and no Truncated', async () => {
      const all = await h.json(['--output', 'json', 'keys', 'list', '--page-size', '2']);
      expect(ids(all)).to.deep.equal(keyIds);
      expect(all).to.have.all.keys('Keys');
    });

    it('--max-items stops early with a NextToken, and --starting-token goes on from it, to the same list', async () => {
      const seen: string[] = [];
      let token: string | undefined;
      let calls = 0;
      do {
        const answer = await h.json(['--output', 'json', 'keys', 'list', '--max-items', '3', '--page-size', '2', ...(token ? ['--starting-token', token] : [])]);
        expect(answer.Keys.length).to.be.at.most(3);
        seen.push(...ids(answer));
        token = answer.NextToken;
        calls++;
      } while (token !== undefined);
      expect(seen).to.deep.equal(keyIds);
      expect(calls).to.equal(Math.ceil(keyIds.length / 3));
    });

    it('says how to go on in a table when --max-items cut the list', async () => {
      const table = (await h.keyhold(['--output', 'table', 'keys', 'list', '--max-items', '1'])).stdout.toString();
      expect(table).to.match(/\n\(more: add --starting-token \S+\)\n$/);
    });

    it('--limit and --marker still ask for one page, answered as the API answers (Truncated, NextMarker)', async () => {
      const page = await h.json(['--output', 'json', 'keys', 'list', '--limit', '2']);
      expect(ids(page)).to.deep.equal(keyIds.slice(0, 2));
      expect(page.Truncated).to.equal(true);
      const next = await h.json(['--output', 'json', 'keys', 'list', '--limit', '2', '--marker', page.NextMarker]);
      expect(ids(next)).to.deep.equal(keyIds.slice(2, 4));
    });

    it('tags list, aliases list, keys rotations and credentials list page through too', async () => {
      expect((await h.json(['tags', 'list', tagged, '--page-size', '2'])).Tags.map((tag: { TagKey: string }) => tag.TagKey)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
      for (const [i, keyId] of keyIds.slice(0, 3).entries()) await h.admin.call('createalias', { AliasName: `alias/scripting-${i}`, TargetKeyId: keyId });
      expect((await h.json(['aliases', 'list', '--page-size', '1'])).Aliases.map((alias: { AliasName: string }) => alias.AliasName))
        .to.include.members(['alias/scripting-0', 'alias/scripting-1', 'alias/scripting-2']);
      for (let i = 0; i < 3; i++) await h.admin.call('rotatekeyondemand', { KeyId: keyIds[1] });
      expect((await h.json(['keys', 'rotations', keyIds[1]!, '--page-size', '1'])).Rotations).to.have.length(3);
      await h.admin.createCredential({ description: 'second', admin: true }).then((made) => made.secretKey.fill(0));
      const first = await h.json(['credentials', 'list', '--max-items', '1']);
      expect(first.Credentials).to.have.length(1);
      const rest = await h.json(['credentials', 'list', '--starting-token', first.NextToken]);
      expect(rest.Credentials).to.have.length(1);
      expect(rest).to.not.have.property('NextToken');
      expect(rest.Credentials[0].AccessKeyId).to.not.equal(first.Credentials[0].AccessKeyId);
    });

    it('audit list takes --max-items, --page-size and --starting-token too', async () => {
      const first = await h.json(['--output', 'json', 'audit', 'list', '--max-items', '2', '--page-size', '1']);
      expect(first.Events).to.have.length(2);
      expect(first.NextToken).to.be.a('string');
      const next = await h.json(['--output', 'json', 'audit', 'list', '--max-items', '2', '--starting-token', first.NextToken]);
      expect(next.Events[0].Time >= first.Events[1].Time).to.equal(true);
      const record = (event: { Chain: string; Seq: number }) => `${event.Chain}:${event.Seq}`;
      expect(next.Events.map(record)).to.not.include.members(first.Events.map(record));
    });

    it('refuses paging options that cannot be met, before anything is sent', async () => {
      await usageError(['keys', 'list', '--page-size', '1001'], /--page-size must be from 1 to 1000/);
      await usageError(['tags', 'list', tagged, '--page-size', '51'], /--page-size must be from 1 to 50/);
      await usageError(['keys', 'list', '--max-items', '0'], /--max-items must be at least 1/);
      await usageError(['keys', 'list', '--limit', '2', '--max-items', '3'], /give one kind/);
      await usageError(['audit', 'list', '--limit', '2', '--max-items', '3'], /--max-items or --limit, not both/);
    });
  });

  describe('--query and --output text', () => {
    it('--query picks from the answer with JMESPath before it is printed', async () => {
      expect(await h.json(['keys', 'list', '--query', 'Keys[].KeyId'])).to.deep.equal(keyIds);
      expect(await h.json(['keys', 'describe', tagged, '--query', 'KeyMetadata.KeyState'])).to.equal('Enabled');
      expect(await h.json(['tags', 'list', tagged, '--query', "Tags[?TagKey=='c'].TagValue | [0]"])).to.equal('value-c');
    });

    it('--output text writes tab-separated lines as the aws CLI does', async () => {
      const ids = await h.keyhold(['keys', 'list', '--query', 'Keys[].KeyId', '--output', 'text']);
      expect(ids.stdout.toString()).to.equal(`${keyIds.join('\t')}\n`);
      const tags = await h.keyhold(['tags', 'list', tagged, '--output', 'text']);
      expect(tags.stdout.toString()).to.equal(['a', 'b', 'c', 'd', 'e'].map((name) => `TAGS\t${name}\tvalue-${name}\n`).join(''));
      const state = await h.keyhold(['keys', 'describe', tagged, '--query', 'KeyMetadata.[KeyId,KeyState]', '--output', 'text']);
      expect(state.stdout.toString()).to.equal(`${tagged}\tEnabled\n`);
      const events = await h.keyhold(['audit', 'list', '--max-items', '2', '--query', 'Events[].Action', '--output', 'text']);
      expect(events.stdout.toString()).to.match(/^\w+\t\w+\n$/);
    });

    it('prints nothing in text for an empty result', async () => {
      const none = await h.keyhold(['keys', 'list', '--query', "Keys[?KeyState=='Gone'].KeyId", '--output', 'text']);
      expect(none.code).to.equal(0);
      expect(none.stdout.toString()).to.equal('');
    });

    it('refuses a --query that is not JMESPath as a usage error, before anything is sent', async () => {
      await usageError(['keys', 'list', '--query', 'Keys[?'], /UsageError: --query is not a JMESPath expression/);
      await usageError(['keys', 'disable', tagged, '--query', 'Key['], /UsageError: --query/);
      await usageError(['audit', 'list', '--follow', '--query', 'Action'], /--follow writes each record whole: leave out --query/);
      expect((await h.json(['keys', 'describe', tagged])).KeyMetadata.KeyState).to.equal('Enabled');
    });
  });

  describe('changes print nothing unless asked', () => {
    it('disable, enable, aliases, tags and rotation settings exit 0 silently, and did their work', async () => {
      const keyId = keyIds[2]!;
      await h.quiet(['keys', 'disable', keyId]);
      expect((await h.admin.describeKey(keyId)).KeyState).to.equal('Disabled');
      await h.quiet(['keys', 'enable', keyId]);
      await h.quiet(['aliases', 'create', 'alias/quiet', keyId]);
      await h.quiet(['aliases', 'update', 'alias/quiet', keyIds[3]!]);
      await h.quiet(['tags', 'add', keyId, 'quiet=yes']);
      await h.quiet(['tags', 'remove', keyId, 'quiet']);
      await h.quiet(['keys', 'rotation', 'enable', keyId]);
      await h.quiet(['keys', 'rotation', 'disable', keyId]);
      await h.quiet(['keys', 'rotate', keyId]);
      await h.quiet(['aliases', 'delete', 'alias/quiet']);
      const key = await h.admin.describeKey(keyId);
      expect(key).to.include({ KeyState: 'Enabled', CurrentKeyVersion: 2 });
    });

    it('print the answer with --output json, or what --query picks', async () => {
      const keyId = keyIds[4]!;
      expect((await h.json(['--output', 'json', 'keys', 'disable', keyId])).KeyMetadata.KeyState).to.equal('Disabled');
      const result = await h.keyhold(['keys', 'enable', keyId, '--query', 'KeyMetadata.KeyState', '--output', 'text']);
      expect(result.stdout.toString()).to.equal('Enabled\n');
    });

    it('keys create and schedule-deletion print their answer unasked: it holds what the caller did not know (the KeyId, the DeletionDate)', async () => {
      const created = await h.json(['keys', 'create', '--description', 'made']);
      expect(created.KeyMetadata.KeyId).to.match(/^[0-9a-f-]{36}$/);
      const scheduled = await h.json(['keys', 'schedule-deletion', created.KeyMetadata.KeyId, '--days', '7']);
      expect(scheduled).to.include({ KeyState: 'PendingDeletion', PendingWindowInDays: 7 });
      await h.quiet(['keys', 'cancel-deletion', created.KeyMetadata.KeyId]);
    });

    it('still fails loudly: a change that the server refuses exits 1 with the error on stderr', async () => {
      const result = await h.keyhold(['keys', 'disable', '00000000-0000-0000-0000-000000000000']);
      expect(result.code).to.equal(1);
      expect(result.stdout.toString()).to.equal('');
      expect(result.stderr).to.match(/NotFoundException/);
    });
  });
});
