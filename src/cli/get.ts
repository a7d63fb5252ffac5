import { NameError, UsageError } from './api-client.ts';
import { type Event, EventNames, eventColumns } from './events.ts';
import {
  age,
  type Color,
  type Column,
  colorOn,
  dash,
  type Format,
  healthColor,
  renderData,
  renderTable,
  stateColor,
} from './output.ts';
import { pathOf, pick, type Res, type Resolver } from './resolve.ts';

/**
 * `fulcrum get RESOURCE [REF]` (issue 16 point 2): tables with the console's columns, `-o wide`
 * for more, `-o json|yaml` for the API's answer, `--watch` to redraw until Ctrl-C.
 */

/** What one `get` shows: rows for the table, the API's answer for json/yaml. */
interface View {
  rows: Res[];
  columns: Column<Res>[];
  data: unknown;
}

interface Kind {
  names: readonly string[];
  fetch(r: Resolver, ref: string | undefined): Promise<View>;
}

const view = (rows: Res[], columns: Column<Res>[], single: boolean): View => ({
  rows,
  columns,
  data: single ? rows[0] : rows,
});

const enc = encodeURIComponent;

/** `healthy/servers`, green when all are healthy, red when none is, yellow between. */
function healthRatio(healthy: number, servers: number): { text: string; color: Color | undefined } {
  const color = servers === 0 ? undefined : healthy === servers ? 'green' : healthy === 0 ? 'red' : 'yellow';
  return { text: `${healthy}/${servers} healthy`, color };
}

/** A server's expected share of new requests (0–1, issue 15) as the console shows it: `33 %`. */
function shareText(share: unknown): string {
  return typeof share === 'number' && Number.isFinite(share) ? `${Math.round(share * 100)} %` : '-';
}

/** The columns of a server table (the console's): name, address:port, weight and share, health, state, connections. */
export function serverColumns(backendOf: (s: Res) => Res | undefined, withBackend: boolean): Column<Res>[] {
  const cols: Column<Res>[] = [
    { header: 'name', cell: (s) => s.name },
    { header: 'address', cell: (s) => `${s.address}:${s.port ?? backendOf(s)?.port ?? '?'}` },
    { header: 'weight', cell: (s) => String(s.weight), num: true },
    { header: 'share', cell: (s) => shareText(s.status?.expectedShare), num: true },
    { header: 'health', cell: (s) => s.status?.health ?? '-', color: (s) => healthColor(s.status?.health) },
    { header: 'state', cell: (s) => s.status?.state ?? '-', color: (s) => stateColor(s.status?.state) },
    { header: 'connections', cell: (s) => String(s.status?.activeConnections ?? 0), num: true },
    { header: 'type', cell: (s) => s.serverType, wide: true },
    { header: 'zone', cell: (s) => dash(s.zone), wide: true },
    { header: 'tags', cell: (s) => (Array.isArray(s.tags) && s.tags.length > 0 ? s.tags.join(',') : '-'), wide: true },
    { header: 'passive', cell: (s) => (s.passive ? 'yes' : 'no'), wide: true },
    { header: 'slow start', cell: (s) => dash(s.status?.slowStartFactor), wide: true, num: true },
    { header: 'reason', cell: (s) => dash(s.status?.reason), wide: true },
    { header: 'last check', cell: (s) => dash(s.status?.lastCheck?.reason), wide: true },
    { header: 'id', cell: (s) => s.id, wide: true },
  ];
  if (withBackend) cols.unshift({ header: 'backend', cell: (s) => s._backendPath ?? dash(backendOf(s)?.name) });
  return cols;
}

const lbCol = (lbs: Res[]): Column<Res> => ({
  header: 'load balancer',
  cell: (x) => lbs.find((l) => l.id === x.loadBalancerId)?.name ?? x.loadBalancerId,
  wide: true,
});

/** Rows of `list` under the load balancer `ref` (a name or id), or the one of id `ref`, or all. */
async function underLb(r: Resolver, path: string, kind: 'backend' | 'frontend', ref: string | undefined) {
  if (ref === undefined) return { rows: await r.list(path), single: false };
  if (ref.includes('/')) {
    const found = kind === 'backend' ? (await r.backend(ref)).backend : (await r.frontend(ref)).frontend;
    return { rows: [found], single: true };
  }
  const all = await r.list(path);
  const byId = all.find((x) => x.id === ref);
  if (byId) return { rows: [byId], single: true };
  const lb = await r.loadBalancer(ref);
  return { rows: all.filter((x) => x.loadBalancerId === lb.id), single: false };
}

const kinds: Kind[] = [
  {
    names: ['load-balancers', 'load-balancer', 'loadbalancers', 'lb', 'lbs'],
    async fetch(r, ref) {
      const [lbs, fes, bes] = await Promise.all([r.list('/load-balancers'), r.list('/frontends'), r.list('/backends')]);
      const rows = ref === undefined ? lbs : [pick(lbs, ref, 'load balancer')];
      const mine = (list: Res[], lb: Res) => list.filter((x) => x.loadBalancerId === lb.id);
      const sum = (lb: Res, k: 'servers' | 'healthy') =>
        mine(bes, lb).reduce((n, b) => n + Number(b.status?.[k] ?? 0), 0);
      const health = (lb: Res) => healthRatio(sum(lb, 'healthy'), sum(lb, 'servers'));
      return view(
        rows,
        [
          { header: 'name', cell: (l) => l.name },
          { header: 'frontends', cell: (l) => String(mine(fes, l).length), num: true },
          { header: 'backends', cell: (l) => String(mine(bes, l).length), num: true },
          { header: 'servers', cell: (l) => `${sum(l, 'servers')}/${l.maxServers}`, num: true },
          { header: 'health', cell: (l) => health(l).text, color: (l) => health(l).color },
          { header: 'allowed networks', cell: (l) => dash(l.allowedNetworks?.join(',')), wide: true },
          { header: 'ip as backend', cell: (l) => (l.ipAsBackend ? 'yes' : 'no'), wide: true },
          { header: 'id', cell: (l) => l.id, wide: true },
        ],
        ref !== undefined,
      );
    },
  },
  {
    names: ['frontends', 'frontend', 'fe'],
    async fetch(r, ref) {
      const { rows, single } = await underLb(r, '/frontends', 'frontend', ref);
      const [bes, lbs] = await Promise.all([r.list('/backends'), r.list('/load-balancers')]);
      const status = (f: Res) => (f.status?.listening ? 'listening' : `not listening: ${dash(f.status?.reason)}`);
      return view(
        rows,
        [
          { header: 'name', cell: (f) => f.name },
          { header: 'protocol', cell: (f) => f.protocol },
          { header: 'address', cell: (f) => `${f.bindAddress}:${f.port}` },
          {
            header: 'default backend',
            cell: (f) => dash(bes.find((b) => b.id === f.defaultBackendId)?.name ?? f.defaultBackendId),
          },
          { header: 'status', cell: status, color: (f) => (f.status?.listening ? 'green' : 'red') },
          lbCol(lbs),
          { header: 'rules', cell: (f) => String(f.rules?.length ?? 0), wide: true, num: true },
          { header: 'enabled', cell: (f) => (f.enabled === false ? 'no' : 'yes'), wide: true },
          { header: 'id', cell: (f) => f.id, wide: true },
        ],
        single,
      );
    },
  },
  {
    names: ['backends', 'backend', 'be'],
    async fetch(r, ref) {
      const { rows, single } = await underLb(r, '/backends', 'backend', ref);
      const lbs = await r.list('/load-balancers');
      const health = (b: Res) => healthRatio(Number(b.status?.healthy ?? 0), Number(b.status?.servers ?? 0));
      return view(
        rows,
        [
          { header: 'name', cell: (b) => b.name },
          { header: 'mode', cell: (b) => b.mode },
          { header: 'method', cell: (b) => b.algorithm },
          { header: 'port', cell: (b) => dash(b.port), num: true },
          { header: 'servers', cell: (b) => String(b.status?.servers ?? 0), num: true },
          { header: 'health', cell: (b) => health(b).text, color: (b) => health(b).color },
          lbCol(lbs),
          { header: 'persistence', cell: (b) => dash(b.persistence?.type), wide: true },
          {
            header: 'health check',
            cell: (b) => (b.healthCheck?.enabled ? String(b.healthCheck.type) : 'off'),
            wide: true,
          },
          { header: 'warnings', cell: (b) => String(b.status?.warnings?.length ?? 0), wide: true, num: true },
          { header: 'id', cell: (b) => b.id, wide: true },
        ],
        single,
      );
    },
  },
  {
    names: ['servers', 'server', 'srv'],
    async fetch(r, ref) {
      const parts = ref?.split('/') ?? [];
      let backends: { lb: Res; be: Res }[];
      // A BACKEND column when the servers may come from several backends.
      let multi = true;
      if (parts.length === 3) {
        const s = await r.server(ref!);
        return view(
          [s.server],
          serverColumns(() => s.backend, false),
          true,
        );
      }
      const lbs = await r.list('/load-balancers');
      const lbOf = (be: Res) => lbs.find((l) => l.id === be.loadBalancerId) ?? { id: be.loadBalancerId, name: '?' };
      if (ref === undefined) {
        backends = (await r.list('/backends')).map((be) => ({ lb: lbOf(be), be }));
      } else if (parts.length === 2) {
        const b = await r.backend(ref);
        backends = [{ lb: b.loadBalancer, be: b.backend }];
        multi = false;
      } else {
        const all = await r.list('/backends');
        const be = all.find((b) => b.id === ref);
        const lb = lbs.find((l) => l.id === ref || l.name === ref.normalize('NFC'));
        if (be) {
          backends = [{ lb: lbOf(be), be }];
          multi = false;
        } else if (lb) backends = all.filter((b) => b.loadBalancerId === lb.id).map((b) => ({ lb, be: b }));
        else {
          let s: Awaited<ReturnType<Resolver['server']>>;
          try {
            s = await r.server(ref);
          } catch (err) {
            if (!(err instanceof NameError)) throw err;
            throw new NameError(
              `no load balancer, backend or server "${ref}" (give LB, LB/BACKEND or LB/BACKEND/SERVER)`,
            );
          }
          return view(
            [s.server],
            serverColumns(() => s.backend, false),
            true,
          );
        }
      }
      const lists = await Promise.all(backends.map((x) => r.servers(x.be)));
      const rows = lists.flatMap((list, i) =>
        list.map((s) => (multi ? { ...s, _backendPath: pathOf(backends[i]!.lb, backends[i]!.be) } : s)),
      );
      const byId = new Map(backends.map((x) => [x.be.id, x.be]));
      const data = rows.map(({ _backendPath, ...s }) => s);
      return { rows, columns: serverColumns((s) => byId.get(s.backendId), multi), data };
    },
  },
  {
    names: ['instances', 'instance', 'inst'],
    async fetch(r, ref) {
      const all = await r.list('/instances');
      const rows = ref === undefined ? all : [pick(all, ref, 'instance')];
      return view(
        rows,
        [
          { header: 'name', cell: (i) => i.name },
          { header: 'private ip', cell: (i) => i.privateIp },
          { header: 'zone', cell: (i) => dash(i.zone) },
          { header: 'os', cell: (i) => dash(i.os) },
          { header: 'type', cell: (i) => i.serverType },
          { header: 'id', cell: (i) => i.id, wide: true },
        ],
        ref !== undefined,
      );
    },
  },
  {
    names: ['certificates', 'certificate', 'certs', 'cert'],
    async fetch(r, ref) {
      const all = await r.list('/certificates');
      const rows = ref === undefined ? all : [pick(all, ref, 'certificate')];
      return view(
        rows,
        [
          { header: 'name', cell: (c) => c.name },
          { header: 'kind', cell: (c) => c.kind },
          { header: 'subjects', cell: (c) => dash(c.subjects?.join(',')) },
          { header: 'not after', cell: (c) => dash(c.notAfter) },
          { header: 'id', cell: (c) => c.id, wide: true },
        ],
        ref !== undefined,
      );
    },
  },
  {
    names: ['events', 'event'],
    async fetch(r, ref) {
      if (ref !== undefined) throw new UsageError('get events takes no name; use fulcrum events --backend …');
      const events = [...(await r.list('/events?limit=50'))].reverse();
      const names = new EventNames(r);
      await names.prime(events as unknown as Event[]);
      return view(events, eventColumns(names) as unknown as Column<Res>[], false);
    },
  },
  {
    names: ['tokens', 'token'],
    async fetch(r, ref) {
      const all = await r.list('/tokens');
      const rows = ref === undefined ? all : [pick(all, ref, 'token')];
      return view(rows, tokenColumns, ref !== undefined);
    },
  },
  {
    names: ['nodes', 'node'],
    async fetch(r, ref) {
      const all = (await r.list('/nodes')).map((n) => ({ ...n, id: n.name }));
      const rows = ref === undefined ? all : [pick(all, ref, 'node')];
      return view(
        rows,
        [
          { header: 'name', cell: (n) => n.name },
          { header: 'applied version', cell: (n) => String(n.appliedVersion), num: true },
          { header: 'last seen', cell: (n) => age(n.lastSeen) },
          { header: 'status', cell: (n) => n.status, color: (n) => (n.status === 'live' ? 'green' : 'yellow') },
        ],
        ref !== undefined,
      );
    },
  },
  {
    names: ['audit'],
    async fetch(r, ref) {
      const all = await r.list(`/audit?limit=50${ref ? `&resource=${enc(ref)}` : ''}`);
      return view(
        all,
        [
          { header: 'at', cell: (a) => a.at },
          { header: 'actor', cell: (a) => a.actor },
          { header: 'action', cell: (a) => a.action },
          { header: 'resource', cell: (a) => a.resource },
          { header: 'version', cell: (a) => String(a.configVersion), num: true, wide: true },
        ],
        false,
      );
    },
  },
];

/** The columns of the token table. */
export const tokenColumns: Column<Res>[] = [
  { header: 'name', cell: (t) => t.name },
  { header: 'role', cell: (t) => t.role },
  { header: 'created', cell: (t) => dash(t.createdAt) },
  { header: 'id', cell: (t) => t.id },
];

/** Every resource name `get` knows, the first of each kind first (for help and completion). */
export const resourceNames: readonly string[] = kinds.map((k) => k.names[0]!);

/** One rendering of `get RESOURCE [REF]` in `format`. */
export async function renderGet(r: Resolver, resource: string, ref: string | undefined, format: Format) {
  const kind = kinds.find((k) => k.names.includes(resource));
  if (!kind) {
    // Anything else the API serves (stats, …): its answer as it is.
    const data = await r.api.call('GET', `/${resource}${ref ? `/${enc(ref)}` : ''}`);
    return renderData(data, format === 'yaml' ? 'yaml' : 'json');
  }
  const v = await kind.fetch(r, ref);
  if (format === 'json' || format === 'yaml') return renderData(v.data, format);
  return renderTable(v.rows, v.columns, { wide: format === 'wide', color: colorOn() });
}

/** `get`, once or (`watch`) every `intervalSeconds` until interrupted. */
export async function runGet(
  r: Resolver,
  resource: string,
  ref: string | undefined,
  o: { output: Format; watch?: boolean; interval: number },
): Promise<void> {
  const first = await renderGet(r, resource, ref, o.output);
  if (!o.watch) {
    process.stdout.write(`${first}\n`);
    return;
  }
  const tty = process.stdout.isTTY === true;
  const title = `Every ${o.interval}s: fulcrum get ${resource}${ref ? ` ${ref}` : ''}`;
  const draw = (text: string) => {
    // On a terminal: clear and redraw in place; else one rendering after the other.
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${title}   ${new Date().toLocaleTimeString()}\n\n${text}\n`);
    else process.stdout.write(`${text}\n\n`);
  };
  draw(first);
  for (;;) {
    await new Promise((res) => setTimeout(res, o.interval * 1000));
    r.reset();
    try {
      draw(await renderGet(r, resource, ref, o.output));
    } catch (err) {
      draw(`fulcrum: ${(err as Error).message}`);
    }
  }
}
