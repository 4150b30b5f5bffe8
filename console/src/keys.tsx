/** The keys list (search, paging) and the create-key form. */
import { useEffect, useState } from 'preact/hooks';
import { call, type Session } from './api.js';
import type { KeyMetadata } from '../../src/protocol/types.js';
import { ErrorBox, Field, formatTime, keyHref, useAction } from './ui.js';

export type { KeyMetadata };

const PAGE_SIZE = 25;
/** A search reads every page, up to this many keys. */
const SEARCH_LIMIT = 10_000;

/** Whether a key matches a search: its id, an alias, its description, state or spec. */
function matches(key: KeyMetadata, search: string): boolean {
  const needle = search.toLowerCase();
  return [key.KeyId, key.Description, key.KeyState, key.KeySpec, key.KeyUsage, ...key.Aliases].some((value) => value.toLowerCase().includes(needle));
}

export function KeysList({ session }: { session: Session }) {
  const [keys, setKeys] = useState<KeyMetadata[]>([]);
  // The markers of the pages seen: markers[n] opens page n (undefined opens the first).
  const [markers, setMarkers] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState(0);
  const [nextMarker, setNextMarker] = useState<string | undefined>(undefined);
  const [search, setSearch] = useState('');
  const [searched, setSearched] = useState('');
  const { busy, error, run } = useAction();

  function loadPage(index: number, marker: string | undefined) {
    void run(async () => {
      const answer = await call(session, 'listkeys', { Limit: PAGE_SIZE, ...(marker ? { Marker: marker } : {}) });
      setKeys(answer.Keys ?? []);
      setNextMarker(answer.Truncated ? answer.NextMarker : undefined);
      setPage(index);
      setSearched('');
    });
  }

  function searchAll(text: string) {
    if (text.trim() === '') {
      setMarkers([undefined]);
      loadPage(0, undefined);
      return;
    }
    void run(async () => {
      const found: KeyMetadata[] = [];
      let marker: string | undefined;
      let seen = 0;
      do {
        const answer = await call(session, 'listkeys', { Limit: 1000, ...(marker ? { Marker: marker } : {}) });
        const batch: KeyMetadata[] = answer.Keys ?? [];
        seen += batch.length;
        found.push(...batch.filter((key) => matches(key, text.trim())));
        marker = answer.Truncated ? answer.NextMarker : undefined;
      } while (marker !== undefined && seen < SEARCH_LIMIT);
      setKeys(found);
      setNextMarker(undefined);
      setSearched(text.trim());
    });
  }

  useEffect(() => loadPage(0, undefined), [session]);

  function next() {
    if (nextMarker === undefined) return;
    const known = markers.slice(0, page + 1);
    setMarkers([...known, nextMarker]);
    loadPage(page + 1, nextMarker);
  }

  return (
    <section aria-labelledby="keys-heading">
      <div class="heading-row">
        <h1 id="keys-heading">Keys</h1>
        <a class="button" href="#/create-key">Create key</a>
      </div>
      <form
        class="search"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          searchAll(search);
        }}
      >
        <Field label="Search keys">
          <input type="search" name="search" value={search} onInput={(event) => setSearch(event.currentTarget.value)} placeholder="id, alias, description, state" />
        </Field>
        <button type="submit" disabled={busy}>Search</button>
      </form>
      <ErrorBox error={error} />
      {searched && <p class="note">{`${keys.length} key(s) match "${searched}".`}</p>}
      <div class="table-wrap">
        <table class="keys">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Aliases</th>
              <th scope="col">Description</th>
              <th scope="col">State</th>
              <th scope="col">Spec</th>
              <th scope="col">Usage</th>
              <th scope="col">Rotation</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr key={key.KeyId} data-key-id={key.KeyId}>
                <td data-label="Key"><a href={keyHref(key.KeyId)} class="mono">{key.KeyId}</a></td>
                <td data-label="Aliases">{key.Aliases.join(', ') || '—'}</td>
                <td data-label="Description">{key.Description || '—'}</td>
                <td data-label="State"><span class={`state state-${key.KeyState}`}>{key.KeyState}</span></td>
                <td data-label="Spec">{key.KeySpec}</td>
                <td data-label="Usage">{key.KeyUsage}</td>
                <td data-label="Rotation">{key.KeyRotationEnabled ? `every ${key.RotationPeriodInDays ?? '?'} days` : 'off'}{` (v${key.CurrentKeyVersion})`}</td>
                <td data-label="Created">{formatTime(key.CreationDate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!busy && keys.length === 0 && !error && <p class="note">No keys.</p>}
      {!searched && (
        <nav class="pager" aria-label="Pages of keys">
          <button type="button" disabled={busy || page === 0} onClick={() => loadPage(page - 1, markers[page - 1])}>Previous page</button>
          <span>{`Page ${page + 1}`}</span>
          <button type="button" disabled={busy || nextMarker === undefined} onClick={next}>Next page</button>
        </nav>
      )}
    </section>
  );
}

/** The key specs the form offers, with the usage each implies. */
const KEY_KINDS: { spec: string; usage: string; label: string }[] = [
  { spec: 'SYMMETRIC_DEFAULT', usage: 'ENCRYPT_DECRYPT', label: 'Symmetric (AES-256-GCM), encrypt and decrypt' },
  { spec: 'HMAC_256', usage: 'GENERATE_VERIFY_MAC', label: 'HMAC SHA-256, MACs' },
  { spec: 'HMAC_384', usage: 'GENERATE_VERIFY_MAC', label: 'HMAC SHA-384, MACs' },
  { spec: 'HMAC_512', usage: 'GENERATE_VERIFY_MAC', label: 'HMAC SHA-512, MACs' },
  { spec: 'RSA_2048', usage: 'ENCRYPT_DECRYPT', label: 'RSA 2048, encrypt and decrypt' },
  { spec: 'RSA_3072', usage: 'SIGN_VERIFY', label: 'RSA 3072, sign and verify' },
  { spec: 'RSA_4096', usage: 'SIGN_VERIFY', label: 'RSA 4096, sign and verify' },
  { spec: 'ECC_NIST_P256', usage: 'SIGN_VERIFY', label: 'ECDSA P-256, sign and verify' },
  { spec: 'ECC_NIST_P384', usage: 'SIGN_VERIFY', label: 'ECDSA P-384, sign and verify' },
];

export function CreateKey({ session, navigate }: { session: Session; navigate: (hash: string) => void }) {
  const [description, setDescription] = useState('');
  const [kind, setKind] = useState(0);
  const [origin, setOrigin] = useState('KEYHOLD');
  const [providerKeyId, setProviderKeyId] = useState('');
  const { busy, error, run } = useAction();
  const chosen = KEY_KINDS[kind] ?? KEY_KINDS[0]!;
  const remote = origin !== 'KEYHOLD';
  return (
    <section aria-labelledby="create-key-heading">
      <h1 id="create-key-heading">Create key</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void run(async () => {
            // A key in another KMS is an asymmetric key whose spec and usage the server reads from there.
            const kindOfKey = remote ? { Origin: origin, ProviderKeyId: providerKeyId.trim() } : { KeySpec: chosen.spec, KeyUsage: chosen.usage };
            const answer = await call(session, 'createkey', { Description: description, ...kindOfKey });
            navigate(keyHref(answer.KeyMetadata.KeyId));
          });
        }}
      >
        <Field label="Description">
          <input name="description" value={description} maxLength={8192} onInput={(event) => setDescription(event.currentTarget.value)} />
        </Field>
        <Field label="Where the key lives">
          <select name="origin" value={origin} onChange={(event) => setOrigin(event.currentTarget.value)}>
            <option value="KEYHOLD">In Keyhold</option>
            <option value="AWS_KMS">In AWS KMS: an asymmetric key Keyhold asks it to use</option>
            <option value="GCP_KMS">In Google Cloud KMS: an asymmetric key Keyhold asks it to use</option>
          </select>
        </Field>
        {remote ? (
          <Field label="The key's name in that KMS" hint={origin === 'AWS_KMS' ? 'its key ARN; its spec and usage are read from AWS KMS' : 'projects/…/cryptoKeyVersions/…; its spec and usage are read from Cloud KMS'}>
            <input name="provider-key-id" required value={providerKeyId} onInput={(event) => setProviderKeyId(event.currentTarget.value)} />
          </Field>
        ) : (
          <Field label="Kind of key">
            <select name="kind" value={String(kind)} onChange={(event) => setKind(Number(event.currentTarget.value))}>
              {KEY_KINDS.map((option, index) => (
                <option value={String(index)} key={option.spec + option.usage}>{option.label}</option>
              ))}
            </select>
          </Field>
        )}
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>Create key</button>
      </form>
    </section>
  );
}
