/** The audit trail: filters, pages oldest first, and follow mode. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { call, type Session } from './api.js';
import type { AuditEvent } from '../../src/protocol/types.js';
import { ErrorBox, Field, formatTime, keyHref, useAction } from './ui.js';

interface Filters {
  keyId: string;
  principal: string;
  action: string;
  outcome: string;
  /** `datetime-local` values, in the reader's time zone. */
  start: string;
  end: string;
}

const PAGE_SIZE = 100;
const FOLLOW_EVERY_MS = 3000;

/** A datetime-local value an hour ago. */
function hoursAgo(hours: number): string {
  const date = new Date(Date.now() - hours * 3_600_000);
  date.setMinutes(date.getMinutes() - date.getTimezoneOffset());
  return date.toISOString().slice(0, 16);
}

function requestBody(filters: Filters, marker: string | undefined): object {
  // Verify: the server marks each record (its MAC, and its link to the record before it).
  const body: Record<string, unknown> = { Limit: PAGE_SIZE, Verify: true };
  if (filters.keyId.trim()) body.KeyId = filters.keyId.trim();
  if (filters.principal.trim()) body.Principal = filters.principal.trim();
  if (filters.action.trim()) body.Action = filters.action.trim();
  if (filters.outcome.trim()) body.Outcome = filters.outcome.trim();
  if (filters.start) body.StartTime = new Date(filters.start).toISOString();
  if (filters.end) body.EndTime = new Date(filters.end).toISOString();
  if (marker) body.Marker = marker;
  return body;
}

export function AuditTrail({ session, initialKeyId }: { session: Session; initialKeyId: string }) {
  const [filters, setFilters] = useState<Filters>({ keyId: initialKeyId, principal: '', action: '', outcome: '', start: hoursAgo(24), end: '' });
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [marker, setMarker] = useState<string | undefined>(undefined);
  const [more, setMore] = useState(false);
  const [follow, setFollow] = useState(false);
  const { busy, error, run } = useAction();
  // The filters the shown records were read with: "more" and follow mode go on with them.
  const applied = useRef(filters);

  function read(from: Filters, after: string | undefined, append: boolean) {
    return run(async () => {
      const answer = await call(session, 'listauditevents', requestBody(from, after));
      const page: AuditEvent[] = answer.Events ?? [];
      setEvents((shown) => (append ? [...shown, ...page] : page));
      if (answer.NextMarker) setMarker(answer.NextMarker);
      else if (!append) setMarker(undefined);
      setMore(answer.Truncated === true);
    });
  }

  useEffect(() => {
    void read(filters, undefined, false);
  }, [session]);

  useEffect(() => {
    if (!follow) return;
    const timer = setInterval(() => {
      // No marker yet means no record was read so far: read from the start again.
      if (!busy) void read(applied.current, marker, marker !== undefined);
    }, FOLLOW_EVERY_MS);
    return () => clearInterval(timer);
  }, [follow, marker, busy]);

  const set = (name: keyof Filters) => (event: { currentTarget: HTMLInputElement }) => setFilters({ ...filters, [name]: event.currentTarget.value });
  return (
    <section aria-labelledby="audit-heading">
      <h1 id="audit-heading">Audit trail</h1>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          applied.current = filters;
          void read(filters, undefined, false);
        }}
      >
        <Field label="Key id">
          <input name="audit-key" value={filters.keyId} onInput={set('keyId')} />
        </Field>
        <Field label="Principal (access key id)">
          <input name="audit-principal" value={filters.principal} onInput={set('principal')} />
        </Field>
        <Field label="Action" hint="e.g. Encrypt, CreateAlias">
          <input name="audit-action" value={filters.action} onInput={set('action')} />
        </Field>
        <Field label="Outcome" hint="Success, or an error type">
          <input name="audit-outcome" value={filters.outcome} onInput={set('outcome')} />
        </Field>
        <Field label="From">
          <input type="datetime-local" name="audit-start" value={filters.start} onInput={set('start')} />
        </Field>
        <Field label="Until">
          <input type="datetime-local" name="audit-end" value={filters.end} onInput={set('end')} />
        </Field>
        <button type="submit" disabled={busy}>Show</button>
        <label class="check">
          <input type="checkbox" name="audit-follow" checked={follow} onChange={(event) => setFollow(event.currentTarget.checked)} /> Follow (show new records as they come)
        </label>
      </form>
      <ErrorBox error={error} />
      <div class="table-wrap">
        <table class="audit">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Principal</th>
              <th scope="col">Action</th>
              <th scope="col">Key</th>
              <th scope="col">Outcome</th>
              <th scope="col">Detail</th>
              <th scope="col">Verified</th>
            </tr>
          </thead>
          <tbody>
            {events.map((record) => (
              <tr key={`${record.Chain}/${record.Seq}`} data-action={record.Action}>
                <td data-label="Time">{formatTime(record.Time)}</td>
                <td data-label="Principal" class="mono">{record.Principal}</td>
                <td data-label="Action">{record.Action}</td>
                <td data-label="Key">{record.KeyId ? <a href={keyHref(record.KeyId)} class="mono">{record.KeyId}</a> : '—'}</td>
                <td data-label="Outcome" class={record.Outcome === 'Success' ? 'outcome-success' : 'outcome-failure'}>{record.Outcome}</td>
                <td data-label="Detail" class="audit-detail">{describeDetail(record)}</td>
                <td data-label="Verified" class="audit-verified">
                  {record.Verified === true ? <span class="verified">verified</span> : record.Verified === false ? <span class="not-verified">does not verify</span> : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!busy && events.length === 0 && !error && <p class="note">No records match.</p>}
      <p class="note verify-note">
        <strong>Verified</strong>: the server checked the record's MAC under its audit key, and that it follows the record before it. A record
        that <strong>does not verify</strong> was altered, or a record before it was removed, reordered or inserted. This does not show records
        removed from the end of the trail: <span class="mono">keyhold admin audit verify</span>, run where the store is, checks that too.
      </p>
      {more && (
        <button type="button" disabled={busy} onClick={() => read(applied.current, marker, true)}>Show more</button>
      )}
    </section>
  );
}

/** Detail and encryption context as `name=value` text; a batch's items as how many ended how, and the keys they used. */
function describeDetail(record: AuditEvent): string {
  const parts: string[] = [];
  if (record.Items) {
    const outcomes = new Map<string, number>();
    for (const item of record.Items) outcomes.set(item.Outcome, (outcomes.get(item.Outcome) ?? 0) + 1);
    const keys = new Set(record.Items.map((item) => item.KeyId ?? 'no key'));
    parts.push(`${record.Items.length} items: ${[...outcomes].map(([outcome, count]) => `${count} ${outcome}`).join(', ')}`);
    if (record.KeyId === null) parts.push(`keys ${[...keys].join(' ')}`);
  }
  for (const [name, value] of Object.entries(record.Detail ?? {})) parts.push(`${name}=${String(value)}`);
  for (const [name, value] of Object.entries(record.EncryptionContext ?? {})) parts.push(`context ${name}=${value}`);
  return parts.join(', ') || '—';
}
