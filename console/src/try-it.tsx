/** Encrypt and decrypt a text under a key, to check a setup. */
import { useState } from 'preact/hooks';
import { ApiError, base64ToText, call, type Session, textToBase64 } from './api.js';
import { ErrorBox, Field, useAction } from './ui.js';

/** The encryption context field: empty, or a JSON object of strings. */
function parseContext(text: string): Record<string, string> | undefined {
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError('ValidationException', 0, 'Encryption context: not JSON, e.g. {"table": "orders"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((value) => typeof value !== 'string')) {
    throw new ApiError('ValidationException', 0, 'Encryption context: a JSON object of strings, e.g. {"table": "orders"}');
  }
  return parsed as Record<string, string>;
}

export function TryIt({ session, initialKeyId }: { session: Session; initialKeyId: string }) {
  const [keyId, setKeyId] = useState(initialKeyId);
  const [context, setContext] = useState('');
  const [plaintext, setPlaintext] = useState('');
  const [ciphertext, setCiphertext] = useState('');
  const [decrypted, setDecrypted] = useState<string | undefined>(undefined);
  const encrypting = useAction();
  const decrypting = useAction();
  return (
    <section aria-labelledby="try-heading">
      <h1 id="try-heading">Try it</h1>
      <p class="note">Encrypt a text under a key and decrypt it again. Nothing here is stored; the text goes to the server and back, signed with your credential.</p>
      <Field label="Key (id or alias/…)">
        <input name="try-key" value={keyId} onInput={(event) => setKeyId(event.currentTarget.value)} />
      </Field>
      <Field label="Encryption context (optional JSON)" hint='e.g. {"table": "orders"}'>
        <input name="try-context" value={context} onInput={(event) => setContext(event.currentTarget.value)} />
      </Field>
      <form
        class="card"
        onSubmit={(event) => {
          event.preventDefault();
          void encrypting.run(async () => {
            const encryptionContext = parseContext(context);
            const answer = await call(session, 'encrypt', { KeyId: keyId.trim(), Plaintext: textToBase64(plaintext), ...(encryptionContext ? { EncryptionContext: encryptionContext } : {}) });
            setCiphertext(answer.CiphertextBlob);
          });
        }}
      >
        <Field label="Text to encrypt">
          <textarea name="try-plaintext" rows={3} value={plaintext} onInput={(event) => setPlaintext(event.currentTarget.value)} />
        </Field>
        <ErrorBox error={encrypting.error} />
        <button type="submit" disabled={encrypting.busy}>Encrypt</button>
      </form>
      <form
        class="card"
        onSubmit={(event) => {
          event.preventDefault();
          setDecrypted(undefined);
          void decrypting.run(async () => {
            const encryptionContext = parseContext(context);
            const answer = await call(session, 'decrypt', { CiphertextBlob: ciphertext.trim(), ...(encryptionContext ? { EncryptionContext: encryptionContext } : {}) });
            const text = base64ToText(answer.Plaintext);
            setDecrypted(text ?? `(not UTF-8 text: ${answer.Plaintext} in base64)`);
          });
        }}
      >
        <Field label="Ciphertext (base64)">
          <textarea name="try-ciphertext" rows={4} spellcheck={false} value={ciphertext} onInput={(event) => setCiphertext(event.currentTarget.value)} />
        </Field>
        <ErrorBox error={decrypting.error} />
        <button type="submit" disabled={decrypting.busy}>Decrypt</button>
        {decrypted !== undefined && (
          <p>
            Decrypted text: <output class="try-decrypted">{decrypted}</output>
          </p>
        )}
      </form>
    </section>
  );
}
