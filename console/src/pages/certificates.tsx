/** Certificates (T1, T3): upload PEM, subjects, issuer, expiry and its warnings; replace and delete. */
import { useState } from 'react';
import { useConfirmDelete } from '../components/confirm-delete.tsx';
import { ReplaceCertificateDialog } from '../components/replace-certificate-dialog.tsx';
import { Badge, DataTable, LoadState, RowActions } from '../components/ui.tsx';
import { UploadCertificateDialog } from '../components/upload-certificate-dialog.tsx';
import { useLoad, useNow, useServices } from '../hooks.ts';
import { ApiError } from '../lib/api.ts';
import { certificateExpiry } from '../lib/format.ts';
import type { Certificate } from '../lib/types.ts';

export function CertificatesPage() {
  const { notify, can } = useServices();
  const now = useNow(60_000);
  const list = useLoad(async (a, s) => {
    try {
      return { certs: await a.list<Certificate>('/certificates', s), available: true };
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return { certs: [] as Certificate[], available: false };
      throw e;
    }
  }, []);
  const [uploading, setUploading] = useState(false);
  const [replacing, setReplacing] = useState<Certificate | null>(null);
  const remove = useConfirmDelete();
  const askDelete = (c: Certificate) =>
    remove.ask({
      title: `Delete certificate ${c.name}?`,
      message: 'A certificate used by a frontend or a backend cannot be deleted.',
      path: `/certificates/${encodeURIComponent(c.id)}`,
      done: () => {
        notify(`Certificate ${c.name} deleted.`);
        list.reload();
      },
    });
  const data = list.data;
  return (
    <main className="page" aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title">Certificates</h1>
        {can.changeConfig ? (
          <button
            type="button"
            className="primary"
            disabled={data?.available === false}
            onClick={() => setUploading(true)}
          >
            Upload certificate
          </button>
        ) : null}
      </div>
      <LoadState loading={list.loading && !data} error={list.error} what="certificates" />
      {data?.available === false ? (
        <p className="notice" role="status">
          Certificates are not available from this API yet (GET /api/v1/certificates answered 404).
        </p>
      ) : null}
      {data?.available && data.certs.length === 0 ? <p className="muted">No certificates yet.</p> : null}
      {data?.available && data.certs.length > 0 ? (
        <DataTable
          columns={['Name', 'Kind', 'Subjects', 'Issuer', 'Expiry', can.changeConfig && 'Actions']}
          rows={data.certs}
          row={(c) => {
            const x = certificateExpiry(c, now);
            return (
              <tr key={c.id}>
                <th scope="row">{c.name}</th>
                <td>{c.kind === 'ca' ? 'CA bundle' : 'server'}</td>
                <td>{c.subjects.join(', ') || '—'}</td>
                <td>{c.issuer || '—'}</td>
                <td>
                  <Badge tone={x.level === 'ok' ? 'ok' : x.level === 'warning' ? 'warn' : 'bad'} title={c.notAfter}>
                    {x.text}
                  </Badge>
                  {c.warnings.length ? (
                    <ul className="cert-warnings">
                      {c.warnings.map((w) => (
                        <li key={w}>⚠ {w}</li>
                      ))}
                    </ul>
                  ) : null}
                </td>
                {can.changeConfig ? (
                  <RowActions
                    name={c.name}
                    actions={[
                      { label: 'Replace', onClick: () => setReplacing(c) },
                      { label: 'Delete', danger: true, onClick: () => askDelete(c) },
                    ]}
                  />
                ) : null}
              </tr>
            );
          }}
        />
      ) : null}
      {uploading ? (
        <UploadCertificateDialog
          onClose={() => setUploading(false)}
          onSaved={() => {
            setUploading(false);
            list.reload();
          }}
        />
      ) : null}
      {replacing ? (
        <ReplaceCertificateDialog
          certificate={replacing}
          onClose={() => setReplacing(null)}
          onSaved={() => {
            setReplacing(null);
            list.reload();
          }}
        />
      ) : null}
      {remove.dialog}
    </main>
  );
}
