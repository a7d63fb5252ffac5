import {
  addFrontFrontend,
  type FrontClient,
  type FrontProtocol,
  frontClient,
  persistenceSend,
} from './front-protocols.ts';
import { type Json, startTestFulcrum, type TestFulcrum } from './fulcrum.ts';
import { serverBody, sessionServer } from './persistence-support.ts';

/**
 * The setup the end-to-end suites of persistence, draining and slow start share: through the
 * API of a running Fulcrum, load balancer `shop` (127.0.0.0/8 allowed) with backend `web`.
 */

/** A server to add: its name and its port on 127.0.0.1. */
export interface NamedPort {
  name: string;
  port: number;
}

/** What `shopBackend` made: the ids, and each added server's id by its name. */
export interface Shop {
  lbId: string;
  beId: string;
  ids: Map<string, string>;
}

/**
 * Creates load balancer `shop` and its backend `web` (`addBackend` with round-robin; `fields`
 * add to or replace those) holding `servers`, through `ok` (TestFulcrum.ok).
 */
export async function shopBackend(
  ok: (method: string, path: string, body?: unknown) => Promise<Json>,
  fields: Record<string, unknown> = {},
  servers: readonly NamedPort[] = [],
): Promise<Shop> {
  const lbId: string = (await ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] })).id;
  const { id: beId, ids } = await addBackend(ok, lbId, 'web', { algorithm: 'round-robin', ...fields }, servers);
  return { lbId, beId, ids };
}

/**
 * Creates backend `name` of `loadBalancerId` (http, checks off; `fields` add to or replace
 * those) holding `servers` (`serverBody`); answers its id and each server's id by its name.
 */
export async function addBackend(
  ok: (method: string, path: string, body?: unknown) => Promise<Json>,
  loadBalancerId: string,
  name: string,
  fields: Record<string, unknown> = {},
  servers: readonly NamedPort[] = [],
): Promise<{ id: string; ids: Map<string, string> }> {
  const id: string = (
    await ok('POST', '/backends', { loadBalancerId, name, mode: 'http', healthCheck: { enabled: false }, ...fields })
  ).id;
  const ids = new Map<string, string>();
  for (const s of servers)
    ids.set(s.name, (await ok('POST', `/backends/${id}/servers`, serverBody(s.name, s.port))).id);
  return { id, ids };
}

/**
 * The declarative file (YAML) of the same shop: load balancer `shop` (127.0.0.0/8) with backend
 * `web` (http, `algorithm` when given, checks off) holding `servers`, then `frontends`, each a
 * YAML flow mapping (`{ name: one, address: 127.0.0.1, port: 8080 }`) on a line of its own, and
 * `extra` (more frontends) after them.
 */
export function shopYaml(o: { algorithm?: string; servers: string[]; frontends: string[]; extra?: string }): string {
  const items = (indent: string, list: string[]) => list.map((x) => `${indent}- ${x}\n`).join('');
  return `loadBalancers:
  - name: shop
    allowedNetworks: [127.0.0.0/8]
    backends:
      - name: web
        mode: http
${o.algorithm === undefined ? '' : `        algorithm: ${o.algorithm}\n`}        healthCheck: { enabled: false }
        servers:
${items('          ', o.servers)}    frontends:
${items('      ', o.frontends)}${o.extra ?? ''}`;
}

/** A persistence suite's world: see `startPersistenceShop`. */
export interface PersistenceShop extends Shop {
  f: TestFulcrum;
  /** Every session server started, serving or spare, in the order of their names. */
  apps: Awaited<ReturnType<typeof sessionServer>>[];
  /** The port of frontend `www` (the front protocol's) in front of `web`. */
  port: number;
  client: FrontClient;
  /** `client.request` shaped like persistence-support's `send` (`persistenceSend`). */
  send: ReturnType<typeof persistenceSend>;
  /** Closes the client, the Fulcrum (and its data dir) and every session server. */
  close(): Promise<void>;
}

/**
 * A Fulcrum (harness), one `sessionServer` per name, `shopBackend` with `persistence` and
 * `drainTimeoutSeconds: 1` holding the first `serving` of them (the rest are spares), and
 * frontend `www` of `protocol` in front of it.
 */
export async function startPersistenceShop(
  protocol: FrontProtocol,
  persistence: Record<string, unknown>,
  names: readonly string[],
  serving = 3,
): Promise<PersistenceShop> {
  const f = await startTestFulcrum();
  const apps: PersistenceShop['apps'] = [];
  const closeAll = async () => {
    await f.close();
    for (const s of apps) await s.close();
  };
  let shop: Shop;
  let port: number;
  try {
    for (const n of names) apps.push(await sessionServer(n));
    shop = await shopBackend(f.ok, { persistence, drainTimeoutSeconds: 1 }, apps.slice(0, serving));
    ({ port } = await addFrontFrontend(f.ok, protocol, {
      loadBalancerId: shop.lbId,
      name: 'www',
      defaultBackendId: shop.beId,
    }));
  } catch (err) {
    await closeAll();
    throw err;
  }
  const client = frontClient(protocol, port);
  return {
    ...shop,
    f,
    apps,
    port,
    client,
    send: persistenceSend(() => client),
    async close() {
      client.close();
      await closeAll();
    },
  };
}
