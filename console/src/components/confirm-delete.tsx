/**
 * The one confirm-then-delete flow of the console: a page asks with what will happen, the
 * operator confirms in an alertdialog, the change is sent, and a refusal stays in the dialog.
 */
import { type ReactNode, useState } from 'react';
import { useServices } from '../hooks.ts';
import { Confirm } from './ui.tsx';

/** One confirmation: what it says and what it sends. */
export interface DeleteRequest {
  title: string;
  /** What will happen, in words (a paragraph of the dialog). */
  message: ReactNode;
  /** The API path the confirmation sends DELETE to. */
  path: string;
  /** The confirm button's name; default "Delete". */
  confirmLabel?: string;
  /** Red confirm button; default true. */
  danger?: boolean;
  /** A change other than DELETE that takes the thing out of service (a drain is a PATCH `{ enabled: false }`). */
  change?: { method: 'PATCH' | 'POST'; body: unknown; path?: string };
  /** Sends `If-Match` with this version (412 when the resource changed since it was shown). */
  ifMatch?: number;
  /** Called once the API accepted, after the dialog closed, with the configuration version the change is live in. */
  done: (configVersion: number | null) => void;
}

/**
 * `ask(request)` opens the confirmation; render `dialog` where the page's dialogs go. While the
 * request runs the confirm button is disabled; the API's refusal is shown in the dialog, which
 * stays open; Cancel, ✕ and Escape close it.
 */
export function useConfirmDelete(): { ask: (request: DeleteRequest) => void; dialog: ReactNode } {
  const { api } = useServices();
  const [request, setRequest] = useState<DeleteRequest | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const close = () => {
    setRequest(null);
    setError(null);
  };
  const run = async (r: DeleteRequest) => {
    setBusy(true);
    setError(null);
    try {
      const answer = await api.change(
        r.change?.method ?? 'DELETE',
        r.change?.path ?? r.path,
        r.change?.body,
        r.ifMatch,
      );
      close();
      r.done(answer.configVersion);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const ask = (r: DeleteRequest) => {
    setError(null);
    setRequest(r);
  };
  const dialog = request ? (
    <Confirm
      title={request.title}
      danger={request.danger ?? true}
      message={<p>{request.message}</p>}
      confirmLabel={request.confirmLabel ?? 'Delete'}
      busy={busy}
      error={error}
      onCancel={close}
      onConfirm={() => void run(request)}
    />
  ) : null;
  return { ask, dialog };
}
