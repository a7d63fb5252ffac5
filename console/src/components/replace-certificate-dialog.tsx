import { useForm, useServices } from '../hooks.ts';
import type { Certificate } from '../lib/types.ts';
import { joinedPem, PemFields } from './pem-fields.tsx';
import { Dialog, FormError, FormFooter, useSave } from './ui.tsx';

/**
 * Replaces a certificate's PEM in place (`PUT /api/v1/certificates/{id}` `{ pem }`, T1
 * rotation): same id and kind, so every frontend or backend using it keeps using it. New TLS
 * handshakes use the new certificate at once; open connections keep theirs.
 */
export function ReplaceCertificateDialog({
  certificate,
  onClose,
  onSaved,
}: {
  certificate: Certificate;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api, notify } = useServices();
  const form = useForm(() => ({ pem: '', keyPem: '' }));
  const { busy, save } = useSave(form, ['pem', 'keyPem'], { key: 'keyPem', keyPem: 'keyPem' });
  const isServer = certificate.kind === 'server';
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const v = form.values;
    const pem = joinedPem(v, isServer);
    if (!String(v.pem).trim()) {
      form.setErrors({ pem: 'paste or read the new PEM' });
      return;
    }
    await save(async () => {
      const r = await api.change<Certificate>('PUT', `/certificates/${encodeURIComponent(certificate.id)}`, { pem });
      notify(
        `Certificate ${certificate.name} replaced${r.configVersion === null ? '' : ` (version ${r.configVersion})`}: new TLS handshakes use it now; open connections keep the old one.`,
      );
      onSaved();
    });
  };
  return (
    <Dialog
      wide
      title={`Replace certificate ${certificate.name}`}
      onClose={onClose}
      footer={<FormFooter formId="cert-replace-form" submitLabel="Replace" busy={busy} onCancel={onClose} />}
    >
      <form id="cert-replace-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        <p className="notice wide-field">
          Same name, id and kind ({isServer ? 'server certificate' : 'CA bundle'}): everything that uses it keeps using
          it. New TLS handshakes use the new certificate at once; connections already open keep the old one.
        </p>
        <PemFields
          form={form}
          pemLabel={isServer ? 'New certificate chain (PEM)' : 'New CA bundle (PEM)'}
          keyLabel={isServer ? 'New private key (PEM)' : null}
        />
      </form>
    </Dialog>
  );
}
