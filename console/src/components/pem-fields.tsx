/** The PEM inputs of the certificate dialogs (T1): chain or CA bundle, private key, each typed or read from a file. */
import { useId } from 'react';
import type { FormState } from '../hooks.ts';
import { describe, FieldFoot } from './ui.tsx';

/** The PEM text sent to the API: the certificate (chain), then the private key for a server certificate (T1). */
export function joinedPem(v: Record<string, unknown>, isServer: boolean): string {
  return [String(v.pem).trim(), isServer ? String(v.keyPem).trim() : ''].filter(Boolean).join('\n');
}

/**
 * The PEM inputs of a certificate form: form field `pem` (chain or CA bundle) and, when
 * `keyLabel` is given, `keyPem` (private key); each can also be read from a file.
 */
export function PemFields({
  form,
  pemLabel,
  keyLabel,
}: {
  form: FormState;
  pemLabel: string;
  keyLabel: string | null;
}) {
  const fileId = useId();
  const readFile = async (path: 'pem' | 'keyPem', file: File | undefined) => {
    if (file) form.set(path, await file.text());
  };
  return (
    <>
      <PemField
        form={form}
        path="pem"
        label={pemLabel}
        fileId={`${fileId}-c`}
        onFile={(f) => void readFile('pem', f)}
      />
      {keyLabel ? (
        <PemField
          form={form}
          path="keyPem"
          label={keyLabel}
          fileId={`${fileId}-k`}
          onFile={(f) => void readFile('keyPem', f)}
        />
      ) : null}
    </>
  );
}

function PemField({
  form,
  path,
  label,
  fileId,
  onFile,
}: {
  form: FormState;
  path: string;
  label: string;
  fileId: string;
  onFile: (f: File | undefined) => void;
}) {
  const id = useId();
  const error = form.errors[path];
  return (
    <div className={error ? 'field wide-field has-error' : 'field wide-field'} data-field={path}>
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        rows={6}
        className="mono"
        value={String(form.values[path] ?? '')}
        placeholder="-----BEGIN …-----"
        aria-invalid={error ? true : undefined}
        aria-describedby={describe(id, undefined, error)}
        onChange={(e) => form.set(path, e.target.value)}
      />
      <label htmlFor={fileId} className="small">
        or read from a file
      </label>
      <input
        id={fileId}
        type="file"
        accept=".pem,.crt,.cer,.key,text/plain"
        onChange={(e) => onFile(e.target.files?.[0])}
      />
      <FieldFoot id={id} error={error} />
    </div>
  );
}
