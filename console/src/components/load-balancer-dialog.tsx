/** Create / edit a load balancer (S6, S7): name, description, allowed networks, server quota, IP as backend. */
import { useState } from 'react';
import { useForm } from '../hooks.ts';
import {
  LoadBalancerFields,
  loadBalancerPayload,
  loadBalancerValues,
  newLoadBalancerValues,
} from '../lib/frontend-form.ts';
import type { LoadBalancer } from '../lib/types.ts';
import { CheckField, Confirm, Dialog, FormError, FormFooter, TextField, useSave } from './ui.tsx';

export interface LoadBalancerDialogProps {
  loadBalancer?: LoadBalancer;
  onClose: () => void;
  onSaved: (lb: LoadBalancer, configVersion: number | null, created: boolean) => void;
}

export function LoadBalancerDialog({ loadBalancer, onClose, onSaved }: LoadBalancerDialogProps) {
  const form = useForm(() => (loadBalancer ? loadBalancerValues(loadBalancer) : newLoadBalancerValues()));
  const { busy, upsert } = useSave(form, LoadBalancerFields);
  // IP as backend is one-way (S7): turning it on asks first, saying it cannot be undone (issue 16).
  const [confirming, setConfirming] = useState(false);
  const turningOn = form.values.ipAsBackend === true && loadBalancer?.ipAsBackend !== true;
  const save = () => {
    setConfirming(false);
    void upsert<LoadBalancer>({
      prepared: loadBalancerPayload(form.values, loadBalancer),
      editing: !!loadBalancer,
      path: loadBalancer ? `/load-balancers/${encodeURIComponent(loadBalancer.id)}` : '/load-balancers',
      onSaved,
      onUnchanged: onClose,
      // If-Match (issue 15): a load balancer changed meanwhile answers 412 instead of being overwritten.
      ...(loadBalancer?.version !== undefined ? { ifMatch: loadBalancer.version } : {}),
    });
  };
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (turningOn) setConfirming(true);
    else save();
  };
  if (confirming) {
    return (
      <Confirm
        title="Turn on IP as backend?"
        message={
          <p>
            This cannot be undone: once IP as backend is on, it can never be turned off for this load balancer. Any IPv4
            address may then be a server, and only tcp, http and https frontends are allowed.
          </p>
        }
        confirmLabel="Turn on IP as backend"
        danger
        busy={busy}
        onConfirm={save}
        onCancel={() => setConfirming(false)}
      />
    );
  }
  return (
    <Dialog
      title={loadBalancer ? `Edit load balancer ${loadBalancer.name}` : 'Create load balancer'}
      onClose={onClose}
      footer={
        <FormFooter
          formId="lb-form"
          submitLabel={loadBalancer ? 'Save load balancer' : 'Create load balancer'}
          busy={busy}
          onCancel={onClose}
        />
      }
    >
      <form id="lb-form" noValidate onSubmit={submit} className="grid-form">
        <FormError message={form.formError} />
        <TextField form={form} path="name" label="Name" />
        <TextField form={form} path="description" label="Description" />
        <TextField
          form={form}
          path="allowedNetworks"
          label="Allowed networks (CIDR)"
          placeholder="10.0.0.0/8, 127.0.0.0/8"
          hint="custom server IPs must fall inside these unless IP as backend is on"
        />
        <TextField
          form={form}
          path="maxServers"
          label="Server quota"
          type="number"
          hint="the most servers this load balancer may hold; default 492"
        />
        <CheckField
          form={form}
          path="ipAsBackend"
          label="IP as backend"
          disabled={loadBalancer?.ipAsBackend === true}
          hint="any IPv4 address may be a server; once on it cannot be turned off, and only tcp, http and https frontends are allowed"
        />
      </form>
    </Dialog>
  );
}
