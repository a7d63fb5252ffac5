/**
 * Accessible building blocks (issue point 11): dialogs with role="dialog" and a labelled
 * title, fields with a label, a hint and an error tied by aria-describedby.
 */
import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { type FormState, useServices } from '../hooks.ts';
import { ApiError } from '../lib/api.ts';
import { type FieldErrors, fieldFor } from '../lib/form.ts';

export interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  role?: 'dialog' | 'alertdialog';
  describedBy?: string;
}

/** A modal dialog: focus moves in on open and back on close; Escape and the ✕ close it. */
export function Dialog({ title, onClose, children, footer, wide, role = 'dialog', describedBy }: DialogProps) {
  const id = useId();
  const ref = useRef<HTMLDivElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>(
      'input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea, button.primary',
    );
    (first ?? ref.current)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        closeRef.current();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      before?.focus?.();
    };
  }, []);
  const inner = (
    <>
      <header className="dialog-head">
        <h2 id={`${id}-title`}>{title}</h2>
        <button type="button" className="icon" aria-label="Close" onClick={onClose}>
          ✕
        </button>
      </header>
      <div className="dialog-body">{children}</div>
      {footer ? <footer className="dialog-foot">{footer}</footer> : null}
    </>
  );
  // The role is written out (not role={role}) so the linter knows it supports aria-modal.
  const box = {
    ref,
    className: wide ? 'dialog wide' : 'dialog',
    'aria-modal': true,
    'aria-labelledby': `${id}-title`,
    'aria-describedby': describedBy,
    tabIndex: -1,
    children: inner,
  };
  return (
    <div className="overlay">
      {role === 'alertdialog' ? <div role="alertdialog" {...box} /> : <div role="dialog" {...box} />}
    </div>
  );
}

export interface ConfirmProps {
  title: string;
  message: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}

/** A confirmation (role="alertdialog") whose text says what will happen. */
export function Confirm({ title, message, confirmLabel, danger, busy, error, onConfirm, onCancel }: ConfirmProps) {
  const id = useId();
  return (
    <Dialog
      title={title}
      onClose={onCancel}
      role="alertdialog"
      describedBy={id}
      footer={
        <>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className={danger ? 'primary danger' : 'primary'} disabled={busy} onClick={onConfirm}>
            {confirmLabel}
          </button>
        </>
      }
    >
      <div id={id}>{message}</div>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </Dialog>
  );
}

interface BaseFieldProps {
  form: FormState;
  path: string;
  label: string;
  hint?: ReactNode;
  disabled?: boolean;
}

/** The `aria-describedby` of input `id`: its hint and its error, when shown (see FieldFoot). */
export function describe(
  id: string,
  hint: ReactNode | undefined,
  error: string | null | undefined,
): string | undefined {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return ids || undefined;
}

/** The hint and the error (role="alert") under input `id`, with the ids `describe` points to. */
export function FieldFoot({ id, hint, error }: { id: string; hint?: ReactNode; error: string | null | undefined }) {
  return (
    <>
      {hint ? (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      ) : null}
      {error ? (
        <small id={`${id}-error`} className="field-error" role="alert">
          {error}
        </small>
      ) : null}
    </>
  );
}

/** A text or number input bound to a form path, with its label, hint and error. */
export function TextField({
  form,
  path,
  label,
  hint,
  disabled,
  type = 'text',
  placeholder,
  list,
  onChange,
  min,
  max,
}: BaseFieldProps & {
  type?: 'text' | 'number' | 'password';
  placeholder?: string;
  list?: string;
  onChange?: (v: string) => void;
  min?: number;
  max?: number;
}) {
  const id = useId();
  const error = form.errors[path];
  return (
    <div className={error ? 'field has-error' : 'field'} data-field={path}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={path}
        type={type}
        inputMode={type === 'number' ? 'numeric' : undefined}
        min={min}
        max={max}
        value={String(form.values[path] ?? '')}
        placeholder={placeholder}
        disabled={disabled}
        list={list}
        aria-invalid={error ? true : undefined}
        aria-describedby={describe(id, hint, error)}
        onChange={(e) => {
          form.set(path, e.target.value);
          onChange?.(e.target.value);
        }}
      />
      <FieldFoot id={id} hint={hint} error={error} />
    </div>
  );
}

/** A select bound to a form path. */
export function SelectField({
  form,
  path,
  label,
  hint,
  disabled,
  options,
  onChange,
}: BaseFieldProps & { options: readonly { value: string; label: string }[]; onChange?: (v: string) => void }) {
  const id = useId();
  const error = form.errors[path];
  return (
    <div className={error ? 'field has-error' : 'field'} data-field={path}>
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        name={path}
        value={String(form.values[path] ?? '')}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={describe(id, hint, error)}
        onChange={(e) => {
          form.set(path, e.target.value);
          onChange?.(e.target.value);
        }}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldFoot id={id} hint={hint} error={error} />
    </div>
  );
}

/** A checkbox bound to a form path. */
export function CheckField({
  form,
  path,
  label,
  hint,
  disabled,
  onChange,
}: BaseFieldProps & { onChange?: (v: boolean) => void }) {
  const id = useId();
  const error = form.errors[path];
  return (
    <div className={error ? 'field check has-error' : 'field check'} data-field={path}>
      <input
        id={id}
        name={path}
        type="checkbox"
        checked={form.values[path] === true}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={describe(id, hint, error)}
        onChange={(e) => {
          form.set(path, e.target.checked);
          onChange?.(e.target.checked);
        }}
      />
      <label htmlFor={id}>{label}</label>
      <FieldFoot id={id} hint={hint} error={error} />
    </div>
  );
}

/**
 * Shows an API refusal: beside its field when the form has it (API.md `error.field`), else at
 * the top of the dialog.
 */
export function applyApiError(
  form: FormState,
  err: ApiError,
  fields: Iterable<string>,
  alias?: Record<string, string>,
): void {
  const known = [...fields];
  let target = fieldFor(err.field, known);
  if (!target && err.field && alias?.[err.field]) target = alias[err.field] ?? null;
  if (target) {
    form.setErrors({ [target]: err.message });
    form.setFormError(null);
  } else {
    form.setErrors({});
    form.setFormError(err.message);
  }
}

/** A create-or-update of one resource from a form dialog (see useSave's `upsert`). */
export interface Upsert<T> {
  /** The payload built from the form and the errors found before sending. */
  prepared: { payload: Record<string, unknown>; errors: FieldErrors };
  /** True to update (PATCH `path` with the changed fields), false to create (POST `path`). */
  editing: boolean;
  path: string;
  /** Added to a creation's payload (the parent's id). */
  create?: Record<string, unknown>;
  onSaved: (resource: T, configVersion: number | null, created: boolean) => void;
  /** An update that changes nothing sends nothing: this is called instead (closes the dialog). */
  onUnchanged: () => void;
  /** Called after the errors found before sending are shown beside their fields. */
  onInvalid?: () => void;
  /** An update sends `If-Match` with this version (the resource's as the form was opened; 412 when it moved on). */
  ifMatch?: number;
}

/**
 * The save step of a form dialog: `save(send)` runs the request with the submit button
 * disabled (`busy`); an API refusal is shown beside its field among `refused` (with `alias`
 * for the API's other names of a field, see applyApiError) or handled by `refused` when it is a
 * function; any other failure is shown at the top of the form. `upsert` creates or updates a
 * resource that way from the form's prepared payload.
 */
export function useSave(
  form: FormState,
  refused: Iterable<string> | ((err: ApiError) => void),
  alias?: Record<string, string>,
): {
  busy: boolean;
  save: (send: () => Promise<void>) => Promise<void>;
  upsert: <T>(u: Upsert<T>) => Promise<void>;
} {
  const { api } = useServices();
  const [busy, setBusy] = useState(false);
  const save = async (send: () => Promise<void>) => {
    setBusy(true);
    try {
      await send();
    } catch (err) {
      if (!(err instanceof ApiError)) form.setFormError(String(err));
      else if (typeof refused === 'function') refused(err);
      else applyApiError(form, err, refused, alias);
    } finally {
      setBusy(false);
    }
  };
  const upsert = async <T,>(u: Upsert<T>) => {
    const { payload, errors } = u.prepared;
    if (Object.keys(errors).length) {
      form.setErrors(errors);
      u.onInvalid?.();
      return;
    }
    if (u.editing && Object.keys(payload).length === 0) {
      u.onUnchanged();
      return;
    }
    await save(async () => {
      const r = u.editing
        ? await api.change<T>('PATCH', u.path, payload, u.ifMatch)
        : await api.change<T>('POST', u.path, { ...payload, ...u.create });
      u.onSaved(r.resource, r.configVersion, !u.editing);
    });
  };
  return { busy, save, upsert };
}

/** The error at the top of a form (role="alert"). */
export function FormError({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p className="form-error" role="alert">
      {message}
    </p>
  );
}

/** A coloured word: health, state, listening status. */
export function Badge({ tone, children, title }: { tone: string; children: ReactNode; title?: string }) {
  return (
    <span className={`badge ${tone}`} title={title}>
      {children}
    </span>
  );
}

/** A loading / error line for a section. */
export function LoadState({ loading, error, what }: { loading: boolean; error: ApiError | null; what: string }) {
  if (error) {
    return (
      <p className="load-error" role="alert">
        Could not load {what}: {error.message}
      </p>
    );
  }
  if (loading) return <p className="muted">Loading {what}…</p>;
  return null;
}

/** Tabs as links (the route holds the tab), with aria-current on the active one. */
export function Tabs({
  tabs,
  active,
}: {
  tabs: readonly { id: string; label: string; href: string }[];
  active: string;
}) {
  return (
    <nav className="tabs" aria-label="Sections">
      {tabs.map((t) => (
        <a
          key={t.id}
          href={t.href}
          className={t.id === active ? 'tab active' : 'tab'}
          aria-current={t.id === active ? 'page' : undefined}
        >
          {t.label}
        </a>
      ))}
    </nav>
  );
}

/** One button of a table row's actions cell; its accessible name is `${label} ${row name}`. */
export interface RowAction {
  label: string;
  onClick: () => void;
  danger?: boolean;
  disabled?: boolean;
}

/**
 * The actions cell of a table row (Edit / Delete, Update / Drain / Remove, …): one button per
 * action, named after the row ("Delete web-1") so screen readers and tests can tell rows apart.
 */
export function RowActions({
  name,
  actions,
  children,
}: {
  name: string;
  actions: readonly RowAction[];
  /** Shown before the buttons (a link such as "Where used"). */
  children?: ReactNode;
}) {
  return (
    <td className="actions">
      {children}
      {actions.map((a) => (
        <button
          key={a.label}
          type="button"
          className={a.danger ? 'danger' : undefined}
          disabled={a.disabled}
          aria-label={`${a.label} ${name}`}
          onClick={a.onClick}
        >
          {a.label}
        </button>
      ))}
    </td>
  );
}

/** A column heading of a DataTable: a plain label, or a right-aligned number column. */
export type Column = string | { label: string; num: true };

/**
 * A scrollable table of resources (`table.data`): column headings (`scope="col"`; a null or
 * false column is left out, e.g. Actions for a read-only role), one row per item from `row`.
 */
export function DataTable<T>({
  columns,
  rows,
  row,
  caption,
  className = 'data',
}: {
  columns: readonly (Column | null | false)[];
  rows: readonly T[];
  row: (item: T) => ReactNode;
  caption?: ReactNode;
  className?: string;
}) {
  return (
    <div className="table-wrap">
      <table className={className}>
        {caption ? <caption>{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((c) =>
              !c ? null : typeof c === 'string' ? (
                <th key={c} scope="col">
                  {c}
                </th>
              ) : (
                <th key={c.label} scope="col" className="num">
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{rows.map(row)}</tbody>
      </table>
    </div>
  );
}

/** The footer of a form dialog: Cancel, then the primary submit button of form `formId` (disabled while busy). */
export function FormFooter({
  formId,
  submitLabel,
  busy,
  onCancel,
}: {
  formId: string;
  submitLabel: string;
  busy: boolean;
  onCancel: () => void;
}) {
  return (
    <>
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
      <button type="submit" form={formId} className="primary" disabled={busy}>
        {submitLabel}
      </button>
    </>
  );
}
