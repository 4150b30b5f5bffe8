/** The console's shell: sign-in, navigation and the hash routes (#/keys, #/keys/<id>, …). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, forgetForTab, openSession, readCredentialsFile, rememberedForTab, rememberForTab, type Session } from './api.js';
import { AuditTrail } from './audit.js';
import { Credentials } from './credentials.js';
import { KeyPage } from './key-page.js';
import { CreateKey, KeysList } from './keys.js';
import { TryIt } from './try-it.js';
import { ErrorBox, Field, useAction } from './ui.js';

/**
 * Opens a session and checks it against the server with one signed request. An
 * AccessDeniedException counts as signed in: the signature was good, the policy only denies listing keys.
 */
async function signIn(accessKeyId: string, secretKey: string): Promise<Session> {
  const session = await openSession(accessKeyId, secretKey);
  try {
    await call(session, 'listkeys', { Limit: 1 });
  } catch (error) {
    if (!(error instanceof ApiError && error.type === 'AccessDeniedException')) throw error;
  }
  return session;
}

function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secretKey, setSecretKey] = useState('');
  const [stay, setStay] = useState(false);
  const [dragging, setDragging] = useState(false);
  const { busy, error, run } = useAction();

  function submit(id: string, secret: string) {
    void run(async () => {
      const session = await signIn(id, secret);
      if (stay) rememberForTab(session.accessKeyId, secret.trim());
      setSecretKey('');
      onSignedIn(session);
    });
  }

  async function readFile(file: File | undefined) {
    if (file === undefined) return;
    await run(async () => {
      // An admin.credentials file is a few hundred bytes; anything large is not one.
      if (file.size > 64 * 1024) throw new ApiError('BadCredentialsFile', 0, 'The file is too large');
      const fields = readCredentialsFile(await file.text());
      setAccessKeyId(fields.accessKeyId);
      const session = await signIn(fields.accessKeyId, fields.secretKey);
      if (stay) rememberForTab(session.accessKeyId, fields.secretKey);
      onSignedIn(session);
    });
  }

  return (
    <main class="sign-in">
      <h1>Keyhold console</h1>
      <form
        class="card"
        onSubmit={(event) => {
          event.preventDefault();
          submit(accessKeyId, secretKey);
        }}
      >
        <h2>Sign in</h2>
        <Field label="Access key id">
          <input name="access-key-id" autocomplete="off" required value={accessKeyId} onInput={(event) => setAccessKeyId(event.currentTarget.value)} />
        </Field>
        <Field label="Secret key">
          <input name="secret-key" type="password" autocomplete="off" required value={secretKey} onInput={(event) => setSecretKey(event.currentTarget.value)} />
        </Field>
        <label class="check">
          <input type="checkbox" name="stay-signed-in" checked={stay} onChange={(event) => setStay(event.currentTarget.checked)} /> Stay signed in for this tab
        </label>
        <button type="submit" disabled={busy}>Sign in</button>
        <div
          class={dragging ? 'drop-zone dragging' : 'drop-zone'}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            void readFile(event.dataTransfer?.files[0]);
          }}
        >
          <Field label="Or drop an admin.credentials file here, or choose it">
            <input type="file" name="credentials-file" accept=".credentials,application/json,.json" onChange={(event) => void readFile(event.currentTarget.files?.[0])} />
          </Field>
        </div>
        <ErrorBox error={error} />
      </form>
      <p class="note">The secret stays in this tab; each request is signed here, in the browser. Nothing is stored in cookies.</p>
    </main>
  );
}

/** The route in the hash: a page name, an optional id, and query parameters. */
function parseHash(hash: string): { page: string; id: string; query: URLSearchParams } {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const [page = 'keys', ...rest] = path.split('/');
  return { page: page || 'keys', id: decodedOrAsIs(rest.join('/')), query: new URLSearchParams(query) };
}

/** A link's id, decoded; a malformed escape (`%E0%A4`) is kept as written, to be answered "not found". */
function decodedOrAsIs(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const PAGES: { page: string; label: string }[] = [
  { page: 'keys', label: 'Keys' },
  { page: 'credentials', label: 'Credentials' },
  { page: 'audit', label: 'Audit trail' },
  { page: 'try', label: 'Try it' },
];

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    addEventListener('hashchange', onChange);
    // A change between the first render and this effect has fired no event we heard.
    onChange();
    return () => removeEventListener('hashchange', onChange);
  }, []);
  const route = parseHash(hash);
  const navigate = (to: string) => {
    location.hash = to;
  };
  let content;
  switch (route.page) {
    case 'keys':
      content = route.id ? <KeyPage session={session} keyId={route.id} /> : <KeysList session={session} />;
      break;
    case 'create-key':
      content = <CreateKey session={session} navigate={navigate} />;
      break;
    case 'credentials':
      content = <Credentials session={session} />;
      break;
    case 'audit':
      // Keyed by the key it opens with: a link to another key's trail starts afresh.
      content = <AuditTrail key={route.query.get('key') ?? ''} session={session} initialKeyId={route.query.get('key') ?? ''} />;
      break;
    case 'try':
      content = <TryIt key={route.query.get('key') ?? ''} session={session} initialKeyId={route.query.get('key') ?? ''} />;
      break;
    default:
      content = <p>{`There is no page "${route.page}".`}</p>;
  }
  return (
    <>
      <header class="top">
        <a class="brand" href="#/keys">Keyhold</a>
        <nav aria-label="Main">
          <ul>
            {PAGES.map((item) => (
              <li key={item.page}>
                <a href={`#/${item.page}`} aria-current={route.page === item.page ? 'page' : undefined}>{item.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          Signed in as <span class="mono signed-in-as">{session.accessKeyId}</span>
        </span>
        <button type="button" class="sign-out" onClick={onSignOut}>Sign out</button>
      </header>
      <main>{content}</main>
    </>
  );
}

function App() {
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [restoring, setRestoring] = useState(() => rememberedForTab() !== undefined);
  const [restoreError, setRestoreError] = useState<ApiError | undefined>(undefined);

  useEffect(() => {
    const remembered = rememberedForTab();
    if (remembered === undefined) return;
    signIn(remembered.accessKeyId, remembered.secretKey).then(
      (restored) => {
        setSession(restored);
        setRestoring(false);
      },
      (error: unknown) => {
        forgetForTab();
        setRestoreError(error instanceof ApiError ? error : undefined);
        setRestoring(false);
      },
    );
  }, []);

  if (restoring) return <p class="note">Signing in…</p>;
  if (session === undefined) {
    return (
      <>
        <ErrorBox error={restoreError} />
        <SignIn
          onSignedIn={(opened) => {
            setRestoreError(undefined);
            setSession(opened);
          }}
        />
      </>
    );
  }
  return (
    <Shell
      session={session}
      onSignOut={() => {
        forgetForTab();
        setSession(undefined);
        location.hash = '';
      }}
    />
  );
}

render(<App />, document.getElementById('app')!);
