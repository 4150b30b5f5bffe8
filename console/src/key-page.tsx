/** One key: metadata, rotations, aliases, tags, and what can be done to it. */
import { useEffect, useState } from 'preact/hooks';
import { call, type Session } from './api.js';
import type { KeyMetadata } from './keys.js';
import { ErrorBox, Field, formatTime, useAction } from './ui.js';

interface Tag {
  TagKey: string;
  TagValue: string;
}

interface Rotation {
  RotationDate: string;
  RotationType: string;
}

/** The word a user types to schedule a key's deletion. */
const DELETE_WORD = 'delete';

export function KeyPage({ session, keyId }: { session: Session; keyId: string }) {
  const [key, setKey] = useState<KeyMetadata | undefined>(undefined);
  const [tags, setTags] = useState<Tag[] | undefined>(undefined);
  const [rotations, setRotations] = useState<Rotation[] | undefined>(undefined);
  const [notice, setNotice] = useState('');
  const loading = useAction();
  const acting = useAction();

  async function reload() {
    const answer = await call(session, 'describekey', { KeyId: keyId });
    setKey(answer.KeyMetadata);
    // Tags and rotations are extras: a credential allowed DescribeKey alone still sees the key.
    setTags(await call(session, 'listresourcetags', { KeyId: keyId, Limit: 50 }).then((tagged) => tagged.Tags ?? [], () => undefined));
    setRotations(await call(session, 'listkeyrotations', { KeyId: keyId, Limit: 100 }).then((page) => page.Rotations ?? [], () => undefined));
  }

  useEffect(() => {
    void loading.run(reload);
  }, [session, keyId]);

  /** Runs a change, then shows what it did and the key as it is now. */
  function act(done: string, work: () => Promise<unknown>) {
    setNotice('');
    return acting.run(async () => {
      await work();
      await reload();
      setNotice(done);
    });
  }

  if (key === undefined) {
    return (
      <section aria-labelledby="key-heading">
        <h1 id="key-heading">Key</h1>
        <p class="mono">{keyId}</p>
        <ErrorBox error={loading.error} />
        {loading.busy && <p class="note">Loading…</p>}
      </section>
    );
  }
  const id = key.KeyId;
  const pendingDeletion = key.KeyState === 'PendingDeletion';
  return (
    <section aria-labelledby="key-heading">
      <h1 id="key-heading">
        Key <span class="mono">{id}</span>
      </h1>
      <p class="notice" role="status">{notice}</p>
      <ErrorBox error={acting.error} />
      <dl class="metadata">
        <dt>Description</dt>
        <dd class="key-description">{key.Description || '—'}</dd>
        <dt>State</dt>
        <dd><span class={`state state-${key.KeyState}`}>{key.KeyState}</span>{key.DeletionDate ? ` (deleted on ${formatTime(key.DeletionDate)})` : ''}</dd>
        <dt>Spec and usage</dt>
        <dd>{`${key.KeySpec}, ${key.KeyUsage}`}</dd>
        <dt>Origin</dt>
        <dd>{key.Origin}{key.ProviderKeyId ? ` (${key.ProviderKeyId})` : ''}</dd>
        <dt>Current version</dt>
        <dd class="key-version">{String(key.CurrentKeyVersion)}</dd>
        <dt>Automatic rotation</dt>
        <dd class="key-rotation">{key.KeyRotationEnabled ? `every ${key.RotationPeriodInDays ?? '?'} days, next on ${formatTime(key.NextRotationDate)}` : 'off'}</dd>
        <dt>Created</dt>
        <dd>{formatTime(key.CreationDate)}</dd>
        <dt>ARN</dt>
        <dd class="mono">{key.Arn}</dd>
      </dl>

      <h2>Actions</h2>
      <div class="actions">
        {key.KeyState === 'Disabled' && <button type="button" disabled={acting.busy} onClick={() => act('The key is enabled.', () => call(session, 'enablekey', { KeyId: id }))}>Enable</button>}
        {key.KeyState === 'Enabled' && <button type="button" disabled={acting.busy} onClick={() => act('The key is disabled.', () => call(session, 'disablekey', { KeyId: id }))}>Disable</button>}
        <button type="button" disabled={acting.busy} onClick={() => act('The key was rotated: new encryptions use its new version.', () => call(session, 'rotatekeyondemand', { KeyId: id }))}>Rotate now</button>
        {key.KeyRotationEnabled ? (
          <button type="button" disabled={acting.busy} onClick={() => act('Automatic rotation is off.', () => call(session, 'disablekeyrotation', { KeyId: id }))}>Turn automatic rotation off</button>
        ) : (
          <AutomaticRotation busy={acting.busy} onEnable={(days) => act(`The key now rotates every ${days} days.`, () => call(session, 'enablekeyrotation', { KeyId: id, RotationPeriodInDays: days }))} />
        )}
        {pendingDeletion && <button type="button" disabled={acting.busy} onClick={() => act('The deletion is cancelled; the key is disabled until you enable it.', () => call(session, 'cancelkeydeletion', { KeyId: id }))}>Cancel deletion</button>}
      </div>
      {!pendingDeletion && <ScheduleDeletion busy={acting.busy} onSchedule={(days) => act(`The key will be deleted in ${days} days unless the deletion is cancelled.`, () => call(session, 'schedulekeydeletion', { KeyId: id, PendingWindowInDays: days }))} />}

      <h2>Aliases</h2>
      <ul class="aliases">
        {key.Aliases.map((alias) => (
          <li key={alias}>
            <span class="alias-name">{alias}</span>{' '}
            <button type="button" class="small" aria-label={`Delete alias ${alias}`} disabled={acting.busy} onClick={() => act(`The alias ${alias} is deleted.`, () => call(session, 'deletealias', { AliasName: alias }))}>Delete</button>
          </li>
        ))}
        {key.Aliases.length === 0 && <li class="note">No aliases.</li>}
      </ul>
      <AddAlias busy={acting.busy} onAdd={(name) => act(`The alias ${name} now names this key.`, () => call(session, 'createalias', { AliasName: name, TargetKeyId: id }))} />

      <h2>Tags</h2>
      {tags === undefined ? (
        <p class="note">The tags could not be read with this credential.</p>
      ) : (
        <ul class="tags">
          {tags.map((tag) => (
            <li key={tag.TagKey}>
              <span class="tag-key">{tag.TagKey}</span> = <span class="tag-value">{tag.TagValue}</span>{' '}
              <button type="button" class="small" aria-label={`Remove tag ${tag.TagKey}`} disabled={acting.busy} onClick={() => act(`The tag ${tag.TagKey} is removed.`, () => call(session, 'untagresource', { KeyId: id, TagKeys: [tag.TagKey] }))}>Remove</button>
            </li>
          ))}
          {tags.length === 0 && <li class="note">No tags.</li>}
        </ul>
      )}
      <AddTag busy={acting.busy} onAdd={(tagKey, tagValue) => act(`The tag ${tagKey} is set.`, () => call(session, 'tagresource', { KeyId: id, Tags: [{ TagKey: tagKey, TagValue: tagValue }] }))} />

      <h2>Rotations</h2>
      {rotations === undefined ? (
        <p class="note">The rotations could not be read with this credential.</p>
      ) : rotations.length === 0 ? (
        <p class="note">Never rotated.</p>
      ) : (
        <ol class="rotations">
          {rotations.map((rotation) => (
            <li key={rotation.RotationDate}>{`${formatTime(rotation.RotationDate)}: ${rotation.RotationType === 'ON_DEMAND' ? 'on demand' : 'automatic'}`}</li>
          ))}
        </ol>
      )}
      <p>
        <a href={`#/audit?key=${encodeURIComponent(id)}`}>Audit trail of this key</a> · <a href={`#/try?key=${encodeURIComponent(id)}`}>Try it</a>
      </p>
    </section>
  );
}

function AutomaticRotation({ busy, onEnable }: { busy: boolean; onEnable: (days: number) => Promise<boolean> }) {
  const [days, setDays] = useState('365');
  return (
    <form
      class="inline"
      onSubmit={(event) => {
        event.preventDefault();
        void onEnable(Number(days));
      }}
    >
      <Field label="Rotation period (days, 90 to 2560)">
        <input type="number" name="rotation-days" min={90} max={2560} required value={days} onInput={(event) => setDays(event.currentTarget.value)} />
      </Field>
      <button type="submit" disabled={busy}>Turn automatic rotation on</button>
    </form>
  );
}

/** Deletion needs the word typed: a click alone never schedules it. */
function ScheduleDeletion({ busy, onSchedule }: { busy: boolean; onSchedule: (days: number) => Promise<boolean> }) {
  const [days, setDays] = useState('30');
  const [typed, setTyped] = useState('');
  return (
    <form
      class="danger"
      onSubmit={(event) => {
        event.preventDefault();
        if (typed !== DELETE_WORD) return;
        void onSchedule(Number(days)).then((done) => done && setTyped(''));
      }}
    >
      <h3>Schedule deletion</h3>
      <p>After the waiting period the key and everything encrypted under it is lost for good. Until then the key cannot be used and the deletion can be cancelled.</p>
      <Field label="Waiting period (days, 7 to 30)">
        <input type="number" name="deletion-days" min={7} max={30} required value={days} onInput={(event) => setDays(event.currentTarget.value)} />
      </Field>
      <Field label={`Type "${DELETE_WORD}" to confirm`}>
        <input name="confirm-deletion" autocomplete="off" value={typed} onInput={(event) => setTyped(event.currentTarget.value)} />
      </Field>
      <button type="submit" class="danger-button" disabled={busy || typed !== DELETE_WORD}>Schedule deletion</button>
    </form>
  );
}

function AddAlias({ busy, onAdd }: { busy: boolean; onAdd: (name: string) => Promise<boolean> }) {
  const [name, setName] = useState('alias/');
  return (
    <form
      class="inline"
      onSubmit={(event) => {
        event.preventDefault();
        void onAdd(name).then((done) => done && setName('alias/'));
      }}
    >
      <Field label="New alias">
        <input name="alias-name" required value={name} onInput={(event) => setName(event.currentTarget.value)} />
      </Field>
      <button type="submit" disabled={busy}>Create alias</button>
    </form>
  );
}

function AddTag({ busy, onAdd }: { busy: boolean; onAdd: (tagKey: string, tagValue: string) => Promise<boolean> }) {
  const [tagKey, setTagKey] = useState('');
  const [tagValue, setTagValue] = useState('');
  return (
    <form
      class="inline"
      onSubmit={(event) => {
        event.preventDefault();
        void onAdd(tagKey, tagValue).then((done) => {
          if (!done) return;
          setTagKey('');
          setTagValue('');
        });
      }}
    >
      <Field label="Tag key">
        <input name="tag-key" required value={tagKey} onInput={(event) => setTagKey(event.currentTarget.value)} />
      </Field>
      <Field label="Tag value">
        <input name="tag-value" value={tagValue} onInput={(event) => setTagValue(event.currentTarget.value)} />
      </Field>
      <button type="submit" disabled={busy}>Add tag</button>
    </form>
  );
}
