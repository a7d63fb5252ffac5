import { type Column, colorOn, healthColor, renderTable, stateColor } from './output.ts';
import { pathOf, type Res, type Resolver } from './resolve.ts';

/**
 * `fulcrum top` (issue 16 point 2): per-server requests/s, errors/s, latency and open
 * connections from `GET /api/v1/stats`, busiest first, redrawn every interval on a terminal
 * (one table after the other elsewhere) until Ctrl-C or `--iterations`.
 */

export interface TopOptions {
  backend?: string;
  loadBalancer?: string;
  interval: number;
  iterations?: number;
}

/** One server's line of `top`. */
interface Row {
  id: string;
  name: string;
  path: string;
  health: string;
  state: string;
  rps: number | null;
  eps: number | null;
  latencyMs: number | null;
  active: number;
  requests: number;
}

/** Errors of a server so far: 5xx answers and failed connections. */
// biome-ignore lint/suspicious/noExplicitAny: the /stats answer is read by field name
const errorsOf = (s: any) => Number(s.responses?.['5xx'] ?? 0) + Number(s.failures ?? 0);

/** Time to first byte of a server when /stats carries it (ms). */
// biome-ignore lint/suspicious/noExplicitAny: the /stats answer is read by field name
function latencyOf(s: any): number | null {
  for (const v of [s.ttfbP50Ms, s.latencyMs, s.ttfbMs, s.ewmaTtfbMs]) if (typeof v === 'number') return v;
  return null;
}

const rate = (v: number | null) => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

const columns: Column<Row>[] = [
  { header: 'server', cell: (r) => r.path },
  { header: 'health', cell: (r) => r.health, color: (r) => healthColor(r.health) },
  { header: 'state', cell: (r) => r.state, color: (r) => stateColor(r.state) },
  { header: 'req/s', cell: (r) => rate(r.rps), num: true },
  { header: 'err/s', cell: (r) => rate(r.eps), num: true, color: (r) => (r.eps ? 'red' : undefined) },
  { header: 'latency', cell: (r) => (r.latencyMs === null ? '-' : `${Math.round(r.latencyMs)}ms`), num: true },
  { header: 'conns', cell: (r) => String(r.active), num: true },
  { header: 'requests', cell: (r) => String(r.requests), num: true },
];

/** Runs `top`: `iterations` renderings, or until interrupted. */
export async function runTop(r: Resolver, o: TopOptions): Promise<void> {
  let backendId: string | undefined;
  let lbId: string | undefined;
  if (o.backend) backendId = (await r.backend(o.backend)).backend.id;
  if (o.loadBalancer) lbId = (await r.loadBalancer(o.loadBalancer)).id;
  const tty = process.stdout.isTTY === true;
  const color = colorOn();
  let previous: { at: number; totals: Map<string, { requests: number; errors: number }> } | undefined;
  for (let frame = 1; ; frame++) {
    // biome-ignore lint/suspicious/noExplicitAny: the /stats answer is read by field name
    const stats = await r.api.call<any>('GET', '/stats');
    const at = Date.now();
    r.reset();
    const [lbs, bes] = await Promise.all([r.list('/load-balancers'), r.list('/backends')]);
    const dt = previous ? (at - previous.at) / 1000 : 0;
    const totals = new Map<string, { requests: number; errors: number }>();
    const rows: Row[] = [];
    for (const s of stats.servers as Res[]) {
      const be = bes.find((b) => b.id === s.backendId);
      if (backendId && s.backendId !== backendId) continue;
      if (lbId && be?.loadBalancerId !== lbId) continue;
      const lb = lbs.find((l) => l.id === be?.loadBalancerId);
      const now = { requests: Number(s.requests ?? 0), errors: errorsOf(s) };
      totals.set(s.id, now);
      const before = previous?.totals.get(s.id);
      rows.push({
        id: s.id,
        name: s.name,
        path: pathOf(lb, be, s),
        health: String(s.health ?? '-'),
        state: String(s.state ?? '-'),
        rps: before && dt > 0 ? (now.requests - before.requests) / dt : Number(s.requestsPerSecond ?? 0),
        eps: before && dt > 0 ? (now.errors - before.errors) / dt : null,
        latencyMs: latencyOf(s),
        active: Number(s.activeConnections ?? 0),
        requests: now.requests,
      });
    }
    previous = { at, totals };
    rows.sort((a, b) => (b.rps ?? 0) - (a.rps ?? 0) || a.path.localeCompare(b.path));
    const sum = rows.reduce((n, x) => n + (x.rps ?? 0), 0);
    const head = `fulcrum top   ${new Date(at).toLocaleTimeString()}   ${rows.length} servers   ${rate(sum)} req/s   every ${o.interval}s`;
    const table = rows.length === 0 ? 'no servers' : renderTable(rows, columns, { color });
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${head}\n\n${table}\n`);
    else process.stdout.write(`${head}\n${table}\n\n`);
    if (o.iterations !== undefined && frame >= o.iterations) return;
    await new Promise((res) => setTimeout(res, o.interval * 1000));
  }
}
