/** Add / edit an inventory instance (name, private IP, zone, OS, server type). */
import { ServerTypes } from '../../../src/config/model.ts';
import { useForm, useServices } from '../hooks.ts';
import { changedOnly, toPayload, valuesFrom } from '../lib/form.ts';
import { ServerTypePresets } from '../lib/server-form.ts';
import type { Instance } from '../lib/types.ts';
import { Dialog, FormError, FormFooter, SelectField, TextField, useSave } from './ui.tsx';

const INSTANCE_SPECS = [
  { path: 'name', kind: 'text' },
  { path: 'privateIp', kind: 'text' },
  { path: 'zone', kind: 'optText' },
  { path: 'os', kind: 'optText' },
  { path: 'serverType', kind: 'text' },
] as const;

export function InstanceDialog({
  instance,
  onClose,
  onSaved,
}: {
  instance?: Instance;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api, notify } = useServices();
  const form = useForm(() =>
    instance ? valuesFrom(INSTANCE_SPECS, instance) : { name: '', privateIp: '', zone: '', os: '', serverType: 'web' },
  );
  const { busy, save } = useSave(
    form,
    INSTANCE_SPECS.map((s) => s.path),
  );
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const { payload } = toPayload(INSTANCE_SPECS, form.values);
    const body = instance
      ? changedOnly(payload, toPayload(INSTANCE_SPECS, valuesFrom(INSTANCE_SPECS, instance)).payload)
      : payload;
    await save(async () => {
      const r = instance
        ? await api.change<Instance>('PATCH', `/instances/${encodeURIComponent(instance.id)}`, body, instance.version)
        : await api.change<Instance>('POST', '/instances', body);
      notify(
        `Instance ${r.resource.name ?? ''} saved.${r.configVersion !== null ? ` Configuration version ${r.configVersion}.` : ''}`,
      );
      onSaved();
    });
  };
  return (
    <Dialog
      title={instance ? `Edit instance ${instance.name}` : 'Add instance'}
      onClose={onClose}
      footer={
        <FormFooter
          formId="instance-form"
          submitLabel={instance ? 'Save instance' : 'Add instance'}
          busy={busy}
          onCancel={onClose}
        />
      }
    >
      <form id="instance-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        <TextField form={form} path="name" label="Name" />
        <TextField form={form} path="privateIp" label="Private IP" placeholder="10.0.0.12" />
        <TextField form={form} path="zone" label="Zone" hint="optional" />
        <TextField
          form={form}
          path="os"
          label="OS"
          hint="servers of one backend should run the same OS; the backend warns when they do not"
        />
        <SelectField
          form={form}
          path="serverType"
          label="Server Type"
          options={ServerTypes.map((t) => ({ value: t, label: ServerTypePresets[t].label }))}
        />
      </form>
    </Dialog>
  );
}
