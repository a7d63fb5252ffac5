import type { Command } from 'commander';
import { type ClientFlags, clientFor, exitCodeOf, refusalText } from './api-client.ts';
import { Resolver } from './resolve.ts';

/**
 * `fulcrum explain FRONTEND --client IP [--host --path --method --header --cookie]` (issue 16):
 * where that client's next request goes and why, printed readably (or `-o json`). With
 * `--backend`, explains a backend directly (client and cookie only). A client of
 * `GET /api/v1/frontends/{id}/explain` and `GET /api/v1/backends/{id}/explain`.
 */

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON answer
type Json = any;

interface ExplainFlags extends ClientFlags {
  client: string;
  host?: string;
  path?: string;
  method?: string;
  header: string[];
  cookie?: string;
  backend?: boolean;
  output: 'text' | 'json';
}

const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;

/** The explanation as lines of text. */
export function explainText(e: Json): string[] {
  const out: string[] = [];
  const client = e.client.port === null ? e.client.address : `${e.client.address} port ${e.client.port}`;
  out.push(`client ${client}${e.frontend ? ` → frontend ${e.frontend.name} (${e.frontend.protocol})` : ''}`);
  if (e.routing) {
    const r = e.routing;
    if (r.request.method)
      out.push(`request ${r.request.method} ${r.request.path}${r.request.host ? ` host ${r.request.host}` : ''}`);
    out.push('routing:');
    for (const t of r.rules) {
      out.push(
        t.matched
          ? `  rule ${t.index} ${JSON.stringify(t.match)} matched → ${t.backendName}`
          : `  rule ${t.index} ${JSON.stringify(t.match)} no: ${t.failed} wants ${t.expected}, got ${t.actual}`,
      );
    }
    out.push(`  ${r.reason}`);
  }
  if (!e.backend) {
    out.push(`next: ${e.next.reason}`);
    return out;
  }
  out.push(`backend ${e.backend.name} (${e.backend.algorithm})`);
  if (e.persistence) out.push(`persistence ${e.persistence.type}: ${e.persistence.outcome} — ${e.persistence.reason}`);
  if (e.passives) out.push(`passive servers: ${e.passives.reason}`);
  out.push('servers:');
  const names = new Map<string, string>(e.servers.map((s: Json) => [s.id, s.name]));
  const width = Math.max(4, ...e.servers.map((s: Json) => s.name.length));
  for (const s of e.servers) {
    const head = `  ${s.eligible ? '✓' : '✗'} ${s.name.padEnd(width)} ${`${s.address}:${s.port}`.padEnd(22)}`;
    const weight = `weight ${s.weight}${s.effectiveWeight !== s.weight ? ` (effective ${s.effectiveWeight})` : ''}`;
    out.push(
      s.eligible
        ? `${head} ${weight}, share ${pct(s.expectedShare)}, ${s.activeConnections} conn${s.detail !== 'eligible' ? ` — ${s.detail}` : ''}`
        : `${head} ${s.reason}: ${s.detail}`,
    );
  }
  const n = e.next;
  const who = n.serverId ? (names.get(n.serverId) ?? n.serverId) : null;
  if (n.exact) out.push(`next: ${who ?? 'none'} (${n.via}) — ${n.reason}`);
  else {
    out.push(`next: ${who ? `most likely ${who}; ` : ''}${n.reason}`);
    for (const c of n.candidates) {
      out.push(
        `  ${(names.get(c.serverId) ?? c.serverId).padEnd(width)} p=${pct(c.probability)} conn ${c.activeConnections} ttfb ${c.ewmaTtfbMs} ms score ${c.score}`,
      );
    }
  }
  return out;
}

/** Registers `explain` on the program. */
export function registerExplainCommand(program: Command): void {
  program
    .command('explain')
    .description("where a client's next request goes and why (rules, persistence, servers), without sending traffic")
    .argument('<target>', 'frontend (LB/FRONTEND, name or id); a backend with --backend')
    .requiredOption('--client <ip>', 'client IP address, optionally IP:PORT or [IPv6]:PORT')
    .option('--host <host>', 'Host header')
    .option('--path <path>', 'request path and query (default /)')
    .option('--method <method>', 'request method (default GET)')
    .option('--header <name:value>', 'a request header; repeat for several', (v, acc: string[]) => [...acc, v], [])
    .option('--cookie <cookie>', 'the Cookie header value')
    .option('--backend', 'explain a backend (LB/BACKEND, name or id) instead of a frontend')
    .option('-o, --output <format>', 'text or json', 'text')
    .option(
      '--url <url>',
      'API base URL (default FULCRUM_URL or http://127.0.0.1:8080)',
      process.env.FULCRUM_URL ?? 'http://127.0.0.1:8080',
    )
    .option('--token <token>', 'API token (default FULCRUM_TOKEN, FULCRUM_ADMIN_TOKEN, or <data-dir>/admin-token)')
    .option('--data-dir <dir>', 'data directory to read admin-token from', './data')
    .addHelpText(
      'after',
      '\nExamples:\n  fulcrum explain shop/web --client 203.0.113.7 --host shop.example.com --path /cart\n' +
        '  fulcrum explain shop/app --backend --client 203.0.113.7 --cookie "FULCRUM_SRV=…"\n',
    )
    .action(async (target: string, o: ExplainFlags) => {
      try {
        const api = clientFor(o);
        const resolver = new Resolver(api);
        const q = new URLSearchParams({ client: o.client });
        if (o.cookie !== undefined) q.set('cookie', o.cookie);
        let path: string;
        if (o.backend) {
          path = `/backends/${(await resolver.backend(target)).backend.id}/explain`;
        } else {
          if (o.host !== undefined) q.set('host', o.host);
          if (o.path !== undefined) q.set('path', o.path);
          if (o.method !== undefined) q.set('method', o.method);
          for (const h of o.header) q.append('header', h);
          path = `/frontends/${(await resolver.frontend(target)).frontend.id}/explain`;
        }
        const e = await api.call<Json>('GET', `${path}?${q}`);
        if (o.output === 'json') console.log(JSON.stringify(e, null, 2));
        else for (const line of explainText(e)) console.log(line);
      } catch (err) {
        console.error(`fulcrum: ${refusalText(err as Error)}`);
        process.exit(exitCodeOf(err));
      }
    });
}
