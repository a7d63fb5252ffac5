import { type ApiClient, NameError } from './api-client.ts';

/**
 * Resources by name as well as id (issue 16 point 2): `shop` (a load balancer), `shop/web` (a
 * backend or frontend of it), `shop/web/web-3` (a server of that backend). Names hold no "/",
 * so a path is unambiguous; every segment may also be an id. A name that matches nothing or
 * several resources is a NameError (exit 4) that says which.
 */

/** A resource as the API answers it (checked field by field where read). */
// biome-ignore lint/suspicious/noExplicitAny: API answers are read by field name, as JSON
export type Res = { id: string; name: string } & Record<string, any>;

/** A server with the backend and load balancer it belongs to. */
export interface ServerRef {
  loadBalancer: Res;
  backend: Res;
  server: Res;
}

/** `shop/web/web-3` for a path of resources. */
export function pathOf(...parts: (Res | undefined)[]): string {
  return parts
    .filter((p) => p !== undefined)
    .map((p) => p.name)
    .join('/');
}

function segments(ref: string, max: number, shape: string): string[] {
  const parts = ref.normalize('NFC').split('/');
  if (parts.length > max || parts.some((p) => p === '')) {
    throw new NameError(`"${ref}": expected ${shape} (names or ids)`);
  }
  return parts;
}

/** The one resource of `list` whose id or name is `ref`; NameError when none or several. */
export function pick(list: readonly Res[], ref: string, kind: string, where = ''): Res {
  const byId = list.find((r) => r.id === ref);
  if (byId) return byId;
  const byName = list.filter((r) => r.name === ref);
  if (byName.length === 1) return byName[0]!;
  if (byName.length === 0) throw new NameError(`no ${kind} named "${ref}"${where}`);
  throw new NameError(
    `"${ref}" names ${byName.length} ${kind}s${where}: give the LB/… path or an id (${byName.map((r) => r.id).join(', ')})`,
  );
}

/** Finds resources by path of names or ids through the API (answers cached per run). */
export class Resolver {
  readonly api: ApiClient;
  #cache = new Map<string, Promise<Res[]>>();
  constructor(api: ApiClient) {
    this.api = api;
  }

  /** GET of a list, once per run. */
  list(path: string): Promise<Res[]> {
    let p = this.#cache.get(path);
    if (!p) {
      p = this.api.call<Res[]>('GET', path);
      this.#cache.set(path, p);
      p.catch(() => this.#cache.delete(path));
    }
    return p;
  }

  /** Forgets every cached answer (each redraw of `--watch` reads afresh). */
  reset(): void {
    this.#cache.clear();
  }

  async loadBalancer(ref: string): Promise<Res> {
    const [name] = segments(ref, 1, 'LB');
    return pick(await this.list('/load-balancers'), name!, 'load balancer');
  }

  /** `LB/BACKEND`, or a backend id, or a backend name unique across load balancers. */
  async backend(ref: string): Promise<{ loadBalancer: Res; backend: Res }> {
    return this.#child(ref, 'backends', 'backend');
  }

  /** `LB/FRONTEND`, or a frontend id, or a frontend name unique across load balancers. */
  async frontend(ref: string): Promise<{ loadBalancer: Res; frontend: Res }> {
    const r = await this.#child(ref, 'frontends', 'frontend');
    return { loadBalancer: r.loadBalancer, frontend: r.backend };
  }

  async #child(
    ref: string,
    path: 'backends' | 'frontends',
    kind: string,
  ): Promise<{ loadBalancer: Res; backend: Res }> {
    const parts = segments(ref, 2, `LB/${kind.toUpperCase()}`);
    if (parts.length === 2) {
      const loadBalancer = await this.loadBalancer(parts[0]!);
      const list = await this.list(`/${path}?loadBalancerId=${encodeURIComponent(loadBalancer.id)}`);
      return { loadBalancer, backend: pick(list, parts[1]!, kind, ` in load balancer "${loadBalancer.name}"`) };
    }
    const backend = pick(await this.list(`/${path}`), parts[0]!, kind, ' (give LB/NAME)');
    const lbs = await this.list('/load-balancers');
    const loadBalancer = lbs.find((l) => l.id === backend.loadBalancerId) ?? { id: backend.loadBalancerId, name: '?' };
    return { loadBalancer, backend };
  }

  /** The servers of a backend. */
  servers(backend: Res): Promise<Res[]> {
    return this.list(`/backends/${encodeURIComponent(backend.id)}/servers`);
  }

  /**
   * `LB/BACKEND/SERVER`, `BACKEND/SERVER` (backend by id or unique name) or a server id; or,
   * with `serverRef`, the server `serverRef` of the backend `ref` (the older two-argument form).
   */
  async server(ref: string, serverRef?: string): Promise<ServerRef> {
    if (serverRef !== undefined) {
      const { loadBalancer, backend } = await this.backend(ref);
      const [name] = segments(serverRef, 1, 'SERVER');
      return { loadBalancer, backend, server: await this.#serverIn(loadBalancer, backend, name!) };
    }
    const parts = segments(ref, 3, 'LB/BACKEND/SERVER');
    if (parts.length === 1) {
      const found = await this.api.call<{ server: Res }[]>('GET', `/servers?id=${encodeURIComponent(parts[0]!)}`);
      if (found.length === 0) throw new NameError(`no server with id "${ref}" (give LB/BACKEND/SERVER)`);
      const server = found[0]!.server;
      const { loadBalancer, backend } = await this.backend(server.backendId);
      return { loadBalancer, backend, server };
    }
    const { loadBalancer, backend } = await this.backend(parts.slice(0, -1).join('/'));
    return { loadBalancer, backend, server: await this.#serverIn(loadBalancer, backend, parts.at(-1)!) };
  }

  async #serverIn(loadBalancer: Res, backend: Res, ref: string): Promise<Res> {
    return pick(await this.servers(backend), ref, 'server', ` in backend "${pathOf(loadBalancer, backend)}"`);
  }
}
