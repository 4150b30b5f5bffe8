/** Credentials (admin credentials only): list, create, policy, disable, enable, delete. */
import { useEffect, useState } from 'preact/hooks';
import { call, type Session } from './api.js';
import type { Credential } from '../../src/protocol/types.js';
import { PolicyEditor, usePolicyEditor } from './policy-editor.js';
import { ErrorBox, Field, formatTime, useAction } from './ui.js';

export function Credentials({ session }: { session: Session }) {
  const [credentials, setCredentials] = useState<Credential[]>([]);
  const [created, setCreated] = useState<{ accessKeyId: string; secretKey: string } | undefined>(undefined);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  // What the last deletion did: the credential's own panel is gone with it.
  const [notice, setNotice] = useState('');
  const listing = useAction();

  async function reload() {
    const all: Credential[] = [];
    let marker: string | undefined;
    do {
      const answer = await call(session, 'listcredentials', marker ? { Marker: marker } : {});
      all.push(...(answer.Credentials ?? []));
      marker = answer.Truncated ? answer.NextMarker : undefined;
    } while (marker !== undefined);
    setCredentials(all);
  }

  useEffect(() => {
    void listing.run(reload);
  }, [session]);

  const current = credentials.find((credential) => credential.AccessKeyId === selected);
  return (
    <section aria-labelledby="credentials-heading">
      <h1 id="credentials-heading">Credentials</h1>
      <p class="notice" role="status">{notice}</p>
      <ErrorBox error={listing.error} />
      {created && <NewSecret accessKeyId={created.accessKeyId} secretKey={created.secretKey} onDone={() => setCreated(undefined)} />}
      <div class="table-wrap">
        <table class="credentials">
          <thead>
            <tr>
              <th scope="col">Access key id</th>
              <th scope="col">Description</th>
              <th scope="col">Kind</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col"><span class="visually-hidden">Open</span></th>
            </tr>
          </thead>
          <tbody>
            {credentials.map((credential) => (
              <tr key={credential.AccessKeyId} data-access-key-id={credential.AccessKeyId}>
                <td data-label="Access key id" class="mono">{credential.AccessKeyId}</td>
                <td data-label="Description">{credential.Description || '—'}</td>
                <td data-label="Kind">{credential.Admin ? 'admin' : 'policy'}</td>
                <td data-label="State">{credential.Enabled ? 'enabled' : 'disabled'}</td>
                <td data-label="Created">{formatTime(credential.CreationDate)}</td>
                <td data-label="Last used">{formatTime(credential.LastUsedDate)}</td>
                <td>
                  <button type="button" class="small" aria-label={`Manage ${credential.AccessKeyId}`} onClick={() => setSelected(credential.AccessKeyId)}>Manage</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {current && (
        <ManageCredential
          key={current.AccessKeyId}
          session={session}
          credential={current}
          onChanged={() => listing.run(reload)}
          onDeleted={() => {
            setSelected(undefined);
            setNotice(`The credential ${current.AccessKeyId} is deleted.`);
            return listing.run(reload);
          }}
        />
      )}
      <CreateCredential
        session={session}
        onCreated={(accessKeyId, secretKey) => {
          setCreated({ accessKeyId, secretKey });
          void listing.run(reload);
        }}
      />
    </section>
  );
}

/** The secret of a new credential, shown once. */
function NewSecret({ accessKeyId, secretKey, onDone }: { accessKeyId: string; secretKey: string; onDone: () => void }) {
  const [copied, setCopied] = useState('');
  return (
    <div class="new-secret" role="region" aria-label="New credential's secret">
      <p class="warning"><strong>Copy the secret key now.</strong> The server keeps only what it needs to check signatures: it cannot show this secret again.</p>
      <dl>
        <dt>Access key id</dt>
        <dd class="mono new-access-key-id">{accessKeyId}</dd>
        <dt>Secret key</dt>
        <dd class="mono new-secret-key">{secretKey}</dd>
      </dl>
      <button
        type="button"
        onClick={() => {
          navigator.clipboard.writeText(secretKey).then(
            () => setCopied('The secret key is on the clipboard.'),
            () => setCopied('The browser did not allow copying: select the secret and copy it.'),
          );
        }}
      >
        Copy secret key
      </button>{' '}
      <button type="button" onClick={onDone}>I have stored it</button>
      <p role="status">{copied}</p>
    </div>
  );
}

function CreateCredential({ session, onCreated }: { session: Session; onCreated: (accessKeyId: string, secretKey: string) => void }) {
  const [description, setDescription] = useState('');
  const [admin, setAdmin] = useState(false);
  const editor = usePolicyEditor(undefined);
  const { busy, error, run } = useAction();
  return (
    <form
      class="card"
      onSubmit={(event) => {
        event.preventDefault();
        void run(async () => {
          const policy = admin ? undefined : editor.policy();
          if (!admin && policy === undefined) return;
          const body = admin ? { Description: description, Admin: true } : { Description: description, Policy: policy };
          let answer;
          try {
            answer = await call(session, 'createcredential', body);
          } catch (caught) {
            if (!admin && editor.claim(caught)) return;
            throw caught;
          }
          onCreated(answer.Credential.AccessKeyId, answer.SecretKey);
          setDescription('');
        });
      }}
    >
      <h2>Create credential</h2>
      <Field label="Description">
        <input name="credential-description" value={description} onInput={(event) => setDescription(event.currentTarget.value)} />
      </Field>
      <label class="check">
        <input type="checkbox" name="credential-admin" checked={admin} onChange={(event) => setAdmin(event.currentTarget.checked)} /> Admin (may do everything, including managing credentials)
      </label>
      {!admin && <PolicyEditor editor={editor} name="credential-policy" describedBy="create-policy-error" />}
      <div id="create-policy-error">
        <ErrorBox error={error} />
      </div>
      <button type="submit" disabled={busy}>Create credential</button>
    </form>
  );
}

function ManageCredential({ session, credential, onChanged, onDeleted }: { session: Session; credential: Credential; onChanged: () => Promise<unknown>; onDeleted: () => Promise<unknown> }) {
  const editor = usePolicyEditor(credential.Policy);
  const [confirmDelete, setConfirmDelete] = useState('');
  const [notice, setNotice] = useState('');
  const acting = useAction();
  const policyEdit = useAction();
  const id = credential.AccessKeyId;
  const self = id === session.accessKeyId;

  function act(done: string, work: () => Promise<unknown>, after = onChanged) {
    setNotice('');
    void acting.run(async () => {
      await work();
      await after();
      setNotice(done);
    });
  }

  return (
    <div class="card" role="region" aria-label={`Credential ${id}`}>
      <h2>
        Credential <span class="mono">{id}</span>
      </h2>
      <p class="notice" role="status">{notice}</p>
      <ErrorBox error={acting.error} />
      {self && <p class="note">This is the credential you are signed in with.</p>}
      <div class="actions">
        {credential.Enabled ? (
          <button type="button" disabled={acting.busy} onClick={() => act('The credential is disabled: its requests are refused.', () => call(session, 'disablecredential', { AccessKeyId: id }))}>Disable</button>
        ) : (
          <button type="button" disabled={acting.busy} onClick={() => act('The credential is enabled.', () => call(session, 'enablecredential', { AccessKeyId: id }))}>Enable</button>
        )}
      </div>
      {!credential.Admin && (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void policyEdit.run(async () => {
              const policy = editor.policy();
              if (policy === undefined) return;
              try {
                await call(session, 'updatecredentialpolicy', { AccessKeyId: id, Policy: policy });
              } catch (caught) {
                if (editor.claim(caught)) return;
                throw caught;
              }
              await onChanged();
              setNotice('The policy is saved.');
            });
          }}
        >
          <PolicyEditor editor={editor} name="edit-policy" describedBy="edit-policy-error" />
          <div id="edit-policy-error">
            <ErrorBox error={policyEdit.error} />
          </div>
          <button type="submit" disabled={policyEdit.busy}>Save policy</button>
        </form>
      )}
      <form
        class="danger"
        onSubmit={(event) => {
          event.preventDefault();
          if (confirmDelete !== id) return;
          void acting.run(async () => {
            await call(session, 'deletecredential', { AccessKeyId: id });
            await onDeleted();
          });
        }}
      >
        <Field label="Type the access key id to delete this credential">
          <input name="confirm-credential-deletion" autocomplete="off" value={confirmDelete} onInput={(event) => setConfirmDelete(event.currentTarget.value)} />
        </Field>
        <button type="submit" class="danger-button" disabled={acting.busy || confirmDelete !== id}>Delete credential</button>
      </form>
    </div>
  );
}
