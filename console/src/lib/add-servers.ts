/**
 * "Add servers as a step of creating a backend" (issue 16 point 3): the step that follows the
 * Create Backend dialog lists the inventory's instances to pick and rows of custom addresses;
 * this turns what was picked and typed into one `POST /backends/{id}/servers` body each, and
 * places an API refusal beside the input it is about.
 */
import type { FieldErrors } from './form.ts';
import type { Instance, ServerType, StoredBackend } from './types.ts';

/** One custom address row of the step. */
export interface AddressRow {
  /** Stable key of the row (React key and error key `row:<key>.<field>`). */
  key: number;
  name: string;
  address: string;
  port: string;
}

/** A server to create: where its errors go (`key`) and its request body. */
export interface PlannedServer {
  /** `instance:<id>` or `row:<key>`. */
  key: string;
  name: string;
  payload: Record<string, unknown>;
}

/** A new custom address row, named after the backend (`web-2` for row 2). */
export function newAddressRow(backendName: string, key: number): AddressRow {
  return { key, name: `${backendName}-${key}`, address: '', port: '' };
}

function portOf(text: string, errKey: string, errors: FieldErrors): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (!/^\d+$/.test(t)) {
    errors[errKey] = 'port must be a whole number (empty = the backend’s port)';
    return undefined;
  }
  return Number(t);
}

/**
 * The servers to create: each picked instance (named after it, its server type, `instancePort`
 * or the backend's port), then each row with an address (rows left empty are skipped). Errors
 * found before sending: a row with a name but no address is fine (skipped); a port that is not
 * a whole number is refused beside it. Ranges and names are the API's to judge.
 */
export function planServers(
  backend: Pick<StoredBackend, 'mode'>,
  instances: readonly Instance[],
  picked: ReadonlySet<string>,
  instancePort: string,
  rows: readonly AddressRow[],
): { servers: PlannedServer[]; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const servers: PlannedServer[] = [];
  const customType: ServerType = backend.mode === 'http' ? 'web' : 'other';
  const chosen = instances.filter((i) => picked.has(i.id));
  const iport = chosen.length ? portOf(instancePort, 'instancePort', errors) : undefined;
  for (const i of chosen) {
    const payload: Record<string, unknown> = { name: i.name, serverType: i.serverType, instanceId: i.id };
    if (iport !== undefined) payload.port = iport;
    servers.push({ key: `instance:${i.id}`, name: i.name, payload });
  }
  for (const r of rows) {
    if (r.address.trim() === '') continue;
    const key = `row:${r.key}`;
    const payload: Record<string, unknown> = { name: r.name.trim(), serverType: customType, address: r.address.trim() };
    const port = portOf(r.port, `${key}.port`, errors);
    if (port !== undefined) payload.port = port;
    servers.push({ key, name: r.name.trim() || r.address.trim(), payload });
  }
  return { servers, errors };
}

/**
 * Where an API refusal of one planned server is shown: a row's `name`, `address` or `port`
 * beside that input; an instance's port beside the shared port; anything else about an
 * instance under its checkbox, and about a row beside its address.
 */
export function errorKey(planned: PlannedServer, field: string | null): string {
  if (planned.key.startsWith('instance:')) return field === 'port' ? 'instancePort' : planned.key;
  const f = field === 'name' || field === 'port' ? field : 'address';
  return `${planned.key}.${f}`;
}
