/**
 * A credential's policy, edited statement by statement: each statement's JSON in a textarea of
 * its own, and a mistake shown next to the statement it is in. A statement that is not JSON is
 * flagged before anything is sent; the server's ValidationException names the statement it
 * refused (`Policy.Statement[1] (Sid "orders").Effect: …`, counted from 0), and is shown there.
 * Any other error goes under the editor, as the form shows it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, asApiError } from './api.js';
import { ErrorBox } from './ui.js';

const NEW_STATEMENT = { Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:ListKeys'], Resource: '*' };
const DEFAULT_VERSION = '2012-10-17';
/** How the server names a statement in a policy's error (src/auth/policy.ts). */
const STATEMENT_IN_MESSAGE = /\bPolicy\.Statement\[(\d+)\]/;

export interface PolicyDraft {
  /** The policy's Version, kept as it was (none when it had none). */
  version: string | undefined;
  statements: string[];
  /** A mistake next to the statement at that index. */
  errors: Map<number, ApiError>;
}

function statementText(statement: unknown): string {
  return JSON.stringify(statement, null, 2);
}

/** A draft of a policy as the server gave it (Statement a list or one statement), or a new one. */
export function draftOf(policy: unknown): PolicyDraft {
  const document = (policy ?? {}) as { Version?: unknown; Statement?: unknown };
  const statements = Array.isArray(document.Statement) ? document.Statement : document.Statement === undefined ? [NEW_STATEMENT] : [document.Statement];
  const version = policy === undefined ? DEFAULT_VERSION : typeof document.Version === 'string' ? document.Version : undefined;
  return { version, statements: statements.map(statementText), errors: new Map() };
}

/**
 * The state of one policy editor. `policy()` gives the document to send, or undefined when a
 * statement is not JSON (each such statement then shows why, and the first one has focus);
 * `claim(error)` shows a server error that names a statement next to it and says true.
 */
export function usePolicyEditor(initial: unknown) {
  const [draft, setDraft] = useState<PolicyDraft>(() => draftOf(initial));
  // Bumped to move the focus to a statement with a mistake once it is shown.
  const [focus, setFocus] = useState<{ index: number } | undefined>(undefined);
  const areas = useRef<(HTMLTextAreaElement | null)[]>([]);

  useEffect(() => {
    if (focus) areas.current[focus.index]?.focus();
  }, [focus]);

  function showErrors(errors: Map<number, ApiError>) {
    setDraft((current) => ({ ...current, errors }));
    const first = Math.min(...errors.keys());
    if (Number.isFinite(first)) setFocus({ index: first });
  }

  function policy(): object | undefined {
    const errors = new Map<number, ApiError>();
    const statements = draft.statements.map((text, index) => {
      try {
        return JSON.parse(text) as unknown;
      } catch (error) {
        const reason = error instanceof Error ? error.message : 'parse error';
        errors.set(index, new ApiError('ValidationException', 0, `Policy.Statement[${index}]: not JSON (${reason})`));
        return undefined;
      }
    });
    showErrors(errors);
    if (errors.size > 0) return undefined;
    return { ...(draft.version === undefined ? {} : { Version: draft.version }), Statement: statements };
  }

  function claim(caught: unknown): boolean {
    const error = asApiError(caught);
    const named = error.type === 'ValidationException' ? STATEMENT_IN_MESSAGE.exec(error.message) : null;
    const index = named ? Number(named[1]) : Number.NaN;
    if (!(index >= 0 && index < draft.statements.length)) return false;
    showErrors(new Map([[index, error]]));
    return true;
  }

  return { draft, setDraft, areas, policy, claim };
}

export type PolicyEditorState = ReturnType<typeof usePolicyEditor>;

/** The statements, each with its label, its textarea, its remove button and its mistake. */
export function PolicyEditor({ editor, name, describedBy }: { editor: PolicyEditorState; name: string; describedBy: string }) {
  const { draft, setDraft, areas } = editor;
  const edit = (index: number, text: string) => {
    const errors = new Map(draft.errors);
    errors.delete(index);
    setDraft({ ...draft, statements: draft.statements.map((old, at) => (at === index ? text : old)), errors });
  };
  // Indexes move when a statement goes: the mistakes shown no longer say where they are.
  const remove = (index: number) => setDraft({ ...draft, statements: draft.statements.filter((_, at) => at !== index), errors: new Map() });
  const add = () => setDraft({ ...draft, statements: [...draft.statements, statementText(NEW_STATEMENT)], errors: new Map() });
  return (
    <fieldset class="policy-editor" data-policy-editor={name} aria-describedby={describedBy}>
      <legend>Policy statements</legend>
      <p class="hint">
        Each statement is JSON with Effect, Action, Resource and optionally Sid and Condition. A mistake is shown next to its statement;
        the server counts statements from 0 (<span class="mono">Policy.Statement[0]</span> is statement 1).
      </p>
      {draft.statements.map((text, index) => {
        const id = `${name}-statement-${index}`;
        const error = draft.errors.get(index);
        return (
          <div class={error ? 'policy-statement invalid' : 'policy-statement'} key={index} data-statement={index}>
            <label for={id} class="field-label">
              Statement {index + 1}
            </label>
            <textarea
              id={id}
              name={`${name}-statement`}
              ref={(element) => {
                areas.current[index] = element;
              }}
              rows={Math.min(12, Math.max(4, text.split('\n').length))}
              spellcheck={false}
              value={text}
              onInput={(event) => edit(index, event.currentTarget.value)}
              aria-invalid={error !== undefined}
              aria-describedby={error ? `${id}-error` : undefined}
            />
            {error && (
              <div id={`${id}-error`} class="statement-error">
                <ErrorBox error={error} />
              </div>
            )}
            {draft.statements.length > 1 && (
              <button type="button" class="small" aria-label={`Remove statement ${index + 1}`} onClick={() => remove(index)}>
                Remove statement
              </button>
            )}
          </div>
        );
      })}
      <button type="button" class="small" onClick={add}>
        Add statement
      </button>
    </fieldset>
  );
}
