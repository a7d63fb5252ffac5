/**
 * Hash routes of the console, so the static files work from any path the API serves them at.
 *
 * `#/load-balancers`, `#/load-balancers/{id}/{tab}` (tab: frontends | backends | events | statistics),
 * `#/backends/{id}`, `#/frontends/{id}`, `#/lookup?q=…`, `#/events`, `#/instances`, `#/certificates`,
 * `#/nodes`.
 */

export const LbTabs = ['frontends', 'backends', 'events', 'statistics'] as const;
export type LbTab = (typeof LbTabs)[number];

export type Route =
  | { page: 'load-balancers' }
  | { page: 'load-balancer'; id: string; tab: LbTab }
  | { page: 'backend'; id: string }
  | { page: 'frontend'; id: string }
  | { page: 'lookup'; q: string }
  | { page: 'events' }
  | { page: 'instances' }
  | { page: 'certificates' }
  | { page: 'nodes' };

/** Parses a location hash (with or without `#`); unknown hashes go to the load balancer list. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [path = '', search = ''] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search);
  switch (parts[0]) {
    case 'load-balancers': {
      if (!parts[1]) return { page: 'load-balancers' };
      const tab = (LbTabs as readonly string[]).includes(parts[2] ?? '') ? (parts[2] as LbTab) : 'frontends';
      return { page: 'load-balancer', id: parts[1], tab };
    }
    case 'backends':
      return parts[1] ? { page: 'backend', id: parts[1] } : { page: 'load-balancers' };
    case 'frontends':
      return parts[1] ? { page: 'frontend', id: parts[1] } : { page: 'load-balancers' };
    case 'lookup':
      return { page: 'lookup', q: params.get('q') ?? '' };
    case 'events':
      return { page: 'events' };
    case 'instances':
      return { page: 'instances' };
    case 'certificates':
      return { page: 'certificates' };
    case 'nodes':
      return { page: 'nodes' };
    default:
      return { page: 'load-balancers' };
  }
}

/** The hash of a route (inverse of parseRoute). */
export function href(route: Route): string {
  switch (route.page) {
    case 'load-balancers':
    case 'events':
    case 'instances':
    case 'certificates':
    case 'nodes':
      return `#/${route.page}`;
    case 'load-balancer':
      return `#/load-balancers/${encodeURIComponent(route.id)}/${route.tab}`;
    case 'backend':
      return `#/backends/${encodeURIComponent(route.id)}`;
    case 'frontend':
      return `#/frontends/${encodeURIComponent(route.id)}`;
    case 'lookup':
      return route.q ? `#/lookup?q=${encodeURIComponent(route.q)}` : '#/lookup';
  }
}

/** What the lookup box searched for (S8): an IPv4/IPv6 address, or an id (server or instance). */
export function lookupQueries(q: string): { address?: string; id?: string; instanceId?: string }[] {
  const t = q.trim();
  if (!t) return [];
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(t) || (t.includes(':') && /^[0-9a-f:.]+$/i.test(t))) return [{ address: t }];
  return [{ id: t }, { instanceId: t }];
}
