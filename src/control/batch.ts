import type { AddressGuard } from '../config/address-guard.ts';
import type { ConfigState, Server } from '../config/model.ts';
import { normalizeName } from '../config/names.ts';
import { buildServer, followInstances, mergeServer } from '../config/resources.ts';
import { checkSchema } from '../config/schema-errors.ts';
import { ServerCreate, ServerPatch } from '../config/schemas.ts';
import { configProblems } from '../config/validate.ts';
import { combineErrors, detailOf, type ErrorDetail, FulcrumError, invalid } from '../core/errors.ts';
import type { ChangeFacts } from './pipeline.ts';

/**
 * Atomic batches of servers (issue 15 point 1, API.md second wave): `POST
 * /backends/{id}/servers/batch` `{ add, update, remove, drain }` is ONE change of the pipeline
 * (one configVersion, one snapshot) or none. Each item is built and merged by the
 * per-resource commands' own builders (config/resources.ts) and checked by their own rules
 * (`checkServerInput`, the schemas, config/validate.ts), and a refusal names every failing
 * item: `error.details[]` with `index` and `field` `add[2].port`.
 */

type Body = Record<string, unknown>;

/** Most items of one batch, all lists together (AWS RegisterTargets takes 500; a backend rarely has more). */
export const MAX_BATCH_ITEMS = 1000;

/** The body of a batch. `update` items are a server PATCH plus the server's `id`. */
export interface ServerBatch {
  add?: Body[];
  update?: Body[];
  remove?: string[];
  drain?: string[];
}

/** What a batch did: the servers as they are after it (removed ones as they were). */
export interface ServerBatchResult {
  added: Server[];
  updated: Server[];
  drained: Server[];
  removed: Server[];
}

/**
 * The refusals a server body gets before it is built (POST and PATCH of a server, and each
 * item of a batch): `instanceId` must name an inventory instance, `address` be left out or
 * equal its IP; a new server needs an `address` or an `instanceId`.
 */
export function checkServerInput(draft: ConfigState, body: Body, creating: boolean): void {
  if (creating && (body.instanceId === undefined || body.instanceId === null) && body.address === undefined) {
    throw invalid('address', 'address: is required (an IPv4 address) unless instanceId names an inventory instance');
  }
  if (typeof body.instanceId !== 'string') return;
  const inst = draft.instances.find((i) => i.id === body.instanceId);
  if (!inst) throw invalid('instanceId', `instanceId: no instance with id "${body.instanceId}"`);
  if (body.address !== undefined && body.address !== inst.privateIp) {
    throw invalid('address', `address: must be left out or equal ${inst.privateIp}, the IP of instance "${inst.name}"`);
  }
}

type List = 'add' | 'update' | 'remove' | 'drain';

/** The details of one item's refusal: each field prefixed with the item (`add[2].port`), its index given. */
function itemDetails(list: List, index: number, err: FulcrumError): ErrorDetail[] {
  const at = `${list}[${index}]`;
  return (err.details ?? [detailOf(err)]).map((d) => {
    const already = d.field === at || d.field.startsWith(`${at}.`);
    const field = already ? d.field : d.field ? `${at}.${d.field}` : at;
    return { field, rule: d.rule, message: `${field}: ${d.rule}`, index };
  });
}

const ListOrder: readonly List[] = ['add', 'update', 'remove', 'drain'];

/**
 * One refusal for every failing item, in the order of the body (add, update, remove, drain;
 * by index): the first item's code (400 for a bad or unknown item, 409 for a clash), message
 * and field, and `details` naming them all.
 */
function refusal(found: { list: List; code: FulcrumError['code']; detail: ErrorDetail }[]): FulcrumError {
  const sorted = found
    .map((f, i) => ({ ...f, i }))
    .sort(
      (x, y) =>
        ListOrder.indexOf(x.list) - ListOrder.indexOf(y.list) ||
        (x.detail.index ?? 0) - (y.detail.index ?? 0) ||
        x.i - y.i,
    );
  const details = sorted.map((f) => f.detail);
  const first = sorted[0]!;
  const items = new Set(sorted.map((f) => `${f.list}[${f.detail.index}]`)).size;
  const more = details.length > 1 ? ` (${details.length} problems in ${items} item(s) in all; see details)` : '';
  return new FulcrumError(first.code, `${first.detail.message}${more}`, first.detail.field, details);
}

/**
 * Applies a batch to the draft of one change (`ControlPlane.serversBatch` runs it through the
 * pipeline): builds every item, then judges each built server with config/validate.ts's rules
 * on the part of the configuration it can clash with (its load balancer, backend, instance,
 * and the servers of the backend with its name or its endpoint), so every failing item is
 * named. Throws one FulcrumError whose `details` name them all; the pipeline then validates
 * the whole configuration (quotas and the rest) as for any change.
 */
export function applyServerBatch(
  draft: ConfigState,
  backendId: string,
  batch: ServerBatch,
  guard: AddressGuard | undefined,
): ChangeFacts<ServerBatchResult> {
  const backend = draft.backends.find((b) => b.id === backendId);
  if (!backend) throw new FulcrumError('not_found', `id: no backend with id "${backendId}"`, 'id');
  const lists = {
    add: batch.add ?? [],
    update: batch.update ?? [],
    remove: batch.remove ?? [],
    drain: batch.drain ?? [],
  };
  const total = lists.add.length + lists.update.length + lists.remove.length + lists.drain.length;
  if (total > MAX_BATCH_ITEMS) {
    throw invalid(
      'body',
      `body: a batch holds at most ${MAX_BATCH_ITEMS} items (add, update, remove and drain together); this one has ${total}`,
    );
  }
  const original = draft.servers.slice();
  const found: { list: List; code: FulcrumError['code']; detail: ErrorDetail }[] = [];
  const fail = (list: List, index: number, err: unknown): void => {
    if (!(err instanceof FulcrumError)) throw err;
    for (const detail of itemDetails(list, index, err)) found.push({ list, code: err.code, detail });
  };
  /** Items naming a server (update, drain, remove): which item named each id first. */
  const named = new Map<string, string>();
  const find = (list: List, index: number, id: unknown): number => {
    if (typeof id !== 'string') throw invalid('id', 'id: is required (the id of a server of this backend)');
    const first = named.get(id);
    if (first !== undefined) {
      throw invalid('id', `id: server "${id}" is already in ${first}; name each server once per batch`);
    }
    named.set(id, `${list}[${index}]`);
    const i = draft.servers.findIndex((s) => s.id === id && s.backendId === backendId);
    if (i < 0) throw invalid('id', `id: backend "${backend.name}" has no server "${id}"`);
    return i;
  };
  const out: ServerBatchResult = { added: [], updated: [], drained: [], removed: [] };
  /** Servers of the draft an item made, with the item and the server as it was. */
  const made: { list: List; index: number; server: Server }[] = [];
  lists.add.forEach((body, index) => {
    try {
      const problems = checkSchema(ServerCreate, body);
      if (problems.length > 0) throw combineErrors(problems);
      checkServerInput(draft, body, true);
      const s = buildServer(body, backendId, draft);
      if (typeof s.name === 'string') s.name = normalizeName(s.name);
      draft.servers.push(s);
      made.push({ list: 'add', index, server: s });
    } catch (err) {
      fail('add', index, err);
    }
  });
  lists.update.forEach((item, index) => {
    try {
      const { id, ...patch } = item;
      const i = find('update', index, id);
      const problems = checkSchema(ServerPatch, patch);
      if (problems.length > 0) throw combineErrors(problems);
      checkServerInput(draft, patch, false);
      const cur = draft.servers[i]!;
      const next = { ...mergeServer(cur, patch), id: cur.id, backendId };
      if (typeof next.name === 'string' && next.name !== cur.name) next.name = normalizeName(next.name);
      draft.servers[i] = next;
      made.push({ list: 'update', index, server: next });
    } catch (err) {
      fail('update', index, err);
    }
  });
  lists.drain.forEach((id, index) => {
    try {
      const i = find('drain', index, id);
      const next = { ...draft.servers[i]!, enabled: false };
      draft.servers[i] = next;
      made.push({ list: 'drain', index, server: next });
    } catch (err) {
      fail('drain', index, err);
    }
  });
  lists.remove.forEach((id, index) => {
    try {
      const i = find('remove', index, id);
      out.removed.push(draft.servers[i]!);
      draft.servers.splice(i, 1);
    } catch (err) {
      fail('remove', index, err);
    }
  });
  followInstances(draft);
  const current = new Map(draft.servers.map((s) => [s.id, s]));
  for (const m of made) m.server = current.get(m.server.id) ?? m.server;

  const near = neighbours(draft, original, backendId);
  for (const m of made) {
    const problems = serverProblems(draft, backendId, m.server, guard, near);
    for (const p of problems) fail(m.list, m.index, p);
  }
  if (found.length > 0) throw refusal(found);

  for (const m of made) {
    if (m.list === 'add') out.added.push(m.server);
    else if (m.list === 'update') out.updated.push(m.server);
    else out.drained.push(m.server);
  }
  const touched = new Set([...made.map((m) => m.server.id), ...out.removed.map((s) => s.id)]);
  return {
    result: out,
    kind: 'backend',
    id: backendId,
    before: { loadBalancerId: backend.loadBalancerId, servers: original.filter((s) => touched.has(s.id)) },
    after: {
      loadBalancerId: backend.loadBalancerId,
      servers: draft.servers.filter((s) => touched.has(s.id)),
      removed: out.removed.map((s) => s.id),
    },
  };
}

/** The servers of a backend by name (NFC) and by endpoint: those a server can clash with. */
interface Neighbours {
  byName: Map<string, Server[]>;
  byEndpoint: Map<string, Server[]>;
  endpoint: (s: Server) => string;
  /** Each server as it was before the batch, by id. */
  was: Map<string, Server>;
}

function neighbours(draft: ConfigState, original: readonly Server[], backendId: string): Neighbours {
  const port = draft.backends.find((b) => b.id === backendId)?.port ?? null;
  const endpoint = (x: Server) => `${x.address}:${x.port ?? port}`;
  const byName = new Map<string, Server[]>();
  const byEndpoint = new Map<string, Server[]>();
  const add = (m: Map<string, Server[]>, k: string, x: Server) => {
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  };
  for (const x of draft.servers) {
    if (x.backendId !== backendId) continue;
    add(byName, normalizeName(String(x.name)), x);
    add(byEndpoint, endpoint(x), x);
  }
  return { byName, byEndpoint, endpoint, was: new Map(original.map((x) => [x.id, x])) };
}

/**
 * The problems one server of a batch brings in: config/validate.ts's rules on the part of the
 * configuration it can clash with (its load balancer, backend, instance and certificate, and
 * the servers of its backend with its name or endpoint), minus those that part has without
 * it. The write rules (names, address guard, duplicates) judge only what changed, as for the
 * whole configuration.
 */
function serverProblems(
  draft: ConfigState,
  backendId: string,
  s: Server,
  guard: AddressGuard | undefined,
  near: Neighbours,
): FulcrumError[] {
  const backend = draft.backends.find((b) => b.id === backendId)!;
  const lb = draft.loadBalancers.filter((l) => l.id === backend.loadBalancerId);
  const partners = [
    ...new Set([
      ...(near.byName.get(normalizeName(String(s.name))) ?? []),
      ...(near.byEndpoint.get(near.endpoint(s)) ?? []),
    ]),
  ].filter((x) => x.id !== s.id);
  const was = near.was;
  const part = (servers: readonly Server[]): ConfigState => ({
    version: draft.version,
    loadBalancers: lb,
    backends: [backend],
    frontends: [],
    instances: draft.instances.filter((i) => servers.some((x) => x.instanceId === i.id || x.address === i.privateIp)),
    certificates: draft.certificates.filter((c) => servers.some((x) => x.caCertificateId === c.id)),
    servers: [...servers],
  });
  const problems = (servers: readonly Server[]) => {
    const before = servers.map((x) => was.get(x.id)).filter((x): x is Server => x !== undefined);
    return configProblems(part(servers), { guard, before: part(before) });
  };
  const without = problems(partners).map((p) => p.message);
  return problems([s, ...partners]).filter((p) => {
    const i = without.indexOf(p.message);
    if (i < 0) return true;
    without.splice(i, 1);
    return false;
  });
}
