/**
 * Loaders shared by pages and components: a load balancer with its frontends, backends and
 * servers, the whole inventory of them for the list page, certificates and instances. Reads
 * only the public `/api/v1`.
 */
import { useLoad } from './hooks.ts';
import { type Api, ApiError, query } from './lib/api.ts';
import type { Backend, Certificate, Frontend, Instance, LoadBalancer, Server } from './lib/types.ts';

export interface LbData {
  loadBalancers: LoadBalancer[];
  frontends: Frontend[];
  backends: Backend[];
  /** Servers by backend id. */
  servers: Map<string, Server[]>;
}

/** Everything under one load balancer (or all of them when `lbId` is undefined). */
export async function loadLbData(api: Api, lbId: string | undefined, signal: AbortSignal): Promise<LbData> {
  const q = query({ loadBalancerId: lbId });
  const [loadBalancers, frontends, backends] = await Promise.all([
    lbId
      ? api.get<LoadBalancer>(`/load-balancers/${encodeURIComponent(lbId)}`, signal).then((x) => [x])
      : api.list<LoadBalancer>('/load-balancers', signal),
    api.list<Frontend>(`/frontends${q}`, signal),
    api.list<Backend>(`/backends${q}`, signal),
  ]);
  const lists = await Promise.all(
    backends.map((b) => api.list<Server>(`/backends/${encodeURIComponent(b.id)}/servers`, signal)),
  );
  const servers = new Map<string, Server[]>();
  for (const [i, b] of backends.entries()) servers.set(b.id, lists[i] ?? []);
  return { loadBalancers, frontends, backends, servers };
}

/** Live load of `loadLbData`: refreshed on every event of these resources and every 5 s. */
export function useLbData(lbId: string | undefined) {
  return useLoad((api, signal) => loadLbData(api, lbId, signal), [lbId], {
    refreshOn: (e) => !lbId || e.loadBalancerId === lbId || e.kind === 'config' || e.kind === 'health',
    everyMs: 5000,
  });
}

/** Certificates, or an empty list while the certificates API does not exist yet (404). */
export async function loadCertificates(api: Api, signal: AbortSignal): Promise<Certificate[]> {
  try {
    return await api.list<Certificate>('/certificates', signal);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
}

export function useCertificates() {
  return useLoad(loadCertificates, []);
}

export function useInstances() {
  return useLoad((api, signal) => api.list<Instance>('/instances', signal), []);
}

/** id → name for every resource in the data (events show names). */
export function namesOf(d: LbData | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (!d) return m;
  for (const x of d.loadBalancers) m.set(x.id, x.name);
  for (const x of d.frontends) m.set(x.id, x.name);
  for (const x of d.backends) m.set(x.id, x.name);
  for (const list of d.servers.values()) for (const s of list) m.set(s.id, s.name);
  return m;
}
