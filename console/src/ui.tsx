/** Small pieces every page uses: the error box, busy buttons, dates. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { type ApiError, asApiError, errorInWords } from './api.js';

/** An API error in people's words; the server's type, status and request id on expand. */
export function ErrorBox({ error }: { error: ApiError | undefined }) {
  if (error === undefined) return null;
  return (
    <div class="error" role="alert" data-error-type={error.type}>
      <p class="error-words">{errorInWords(error)}</p>
      {error.message && <p class="error-message">{error.message}</p>}
      <details>
        <summary>Details</summary>
        <dl>
          <dt>Error type</dt>
          <dd class="error-type">{error.type}</dd>
          {error.status > 0 && (
            <>
              <dt>HTTP status</dt>
              <dd>{String(error.status)}</dd>
            </>
          )}
          {error.requestId && (
            <>
              <dt>Request id</dt>
              <dd>{error.requestId}</dd>
            </>
          )}
        </dl>
      </details>
    </div>
  );
}

/**
 * Runs one action at a time for a form or a button: `busy` while it runs, `error` after a
 * failure (cleared by the next run).
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  async function run(work: () => Promise<void>): Promise<boolean> {
    setBusy(true);
    setError(undefined);
    try {
      await work();
      return true;
    } catch (caught) {
      setError(asApiError(caught));
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run, setError };
}

/** A labelled field: the label wraps its control, so a click or a screen reader finds it. */
export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {hint && <span class="hint">{hint}</span>}
    </label>
  );
}

/** An RFC 3339 time as the reader's local date and time; '—' for none. */
export function formatTime(value: string | undefined | null): string {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

/** Where a hash route points: `#/keys/<id>`. */
export function keyHref(keyId: string): string {
  return `#/keys/${encodeURIComponent(keyId)}`;
}
