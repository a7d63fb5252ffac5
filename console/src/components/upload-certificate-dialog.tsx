/** Upload a certificate (T1, T3): a server certificate with its key, or a CA bundle. */
import { useForm, useServices } from '../hooks.ts';
import type { Certificate } from '../lib/types.ts';
import { joinedPem, PemFields } from './pem-fields.tsx';
import { Dialog, FormError, FormFooter, SelectField, TextField, useSave } from './ui.tsx';

export function UploadCertificateDialog({ onClose, onSaved }: { onClose: () => void; onSaved: () => void }) {
  const { api, notify } = useServices();
  const form = useForm(() => ({ name: '', kind: 'server', pem: '', keyPem: '' }));
  const { busy, save } = useSave(form, ['name', 'kind', 'pem', 'keyPem'], { key: 'keyPem', keyPem: 'keyPem' });
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const v = form.values;
    const pem = joinedPem(v, v.kind === 'server');
    await save(async () => {
      const r = await api.change<Certificate>('POST', '/certificates', {
        name: String(v.name).trim(),
        kind: v.kind,
        pem,
      });
      notify(`Certificate ${r.resource.name ?? ''} uploaded.`);
      onSaved();
    });
  };
  const isServer = form.values.kind === 'server';
  return (
    <Dialog
      wide
      title="Upload certificate"
      onClose={onClose}
      footer={<FormFooter formId="cert-form" submitLabel="Upload" busy={busy} onCancel={onClose} />}
    >
      <form id="cert-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        <TextField form={form} path="name" label="Name" />
        <SelectField
          form={form}
          path="kind"
          label="Kind"
          options={[
            { value: 'server', label: 'Server certificate and key (https frontends)' },
            { value: 'ca', label: 'CA bundle (verifies backend servers)' },
          ]}
        />
        <PemFields
          form={form}
          pemLabel={isServer ? 'Certificate chain (PEM)' : 'CA bundle (PEM)'}
          keyLabel={isServer ? 'Private key (PEM)' : null}
        />
      </form>
    </Dialog>
  );
}
