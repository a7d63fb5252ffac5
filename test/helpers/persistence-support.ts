import http from 'node:http';
import { namedHttpServer } from './fulcrum.ts';
import { freePort } from './plane.ts';

/** A response as the persistence tests read it: status, body and the `Set-Cookie` values. */
export interface Answer {
  status: number;
  body: string;
  setCookie: string[] | undefined;
}

/**
 * One GET on a new connection (no keep-alive, so every request is a new client connection)
 * from `localAddress` (any 127.0.0.0/8 address on Linux loopback: distinct source IPs for P1)
 * with an optional `Cookie` header. Rejects on socket errors; 5 s timeout.
 */
export function send(
  port: number,
  opts: { cookie?: string; localAddress?: string; path?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        agent: false,
        localAddress: opts.localAddress,
        headers: opts.cookie ? { cookie: opts.cookie } : {},
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The Set-Cookie value of an answer that sets cookie `name`, or undefined. */
export function setCookieOf(a: Answer, name = 'FULCRUM_SRV'): string | undefined {
  return a.setCookie?.find((c) => c.startsWith(`${name}=`));
}

/** `NAME=VALUE` of the answer's Set-Cookie for `name` (throws when there is none). */
export function cookiePair(a: Answer, name = 'FULCRUM_SRV'): string {
  const sc = setCookieOf(a, name);
  if (!sc) throw new Error(`no Set-Cookie ${name} in answer from ${a.body}: ${JSON.stringify(a.setCookie)}`);
  return sc.split(';')[0]!;
}

/**
 * An HTTP server that answers its `name` and, like an application server with sessions,
 * sets `cookieName=<name>-<n>` when the request carries no such cookie (app-cookie, P2).
 */
export async function sessionServer(
  name: string,
  cookieName = 'JSESSIONID',
): Promise<{ name: string; port: number; count: () => number; close: () => Promise<void> }> {
  let issued = 0;
  const srv = await namedHttpServer(name, 0, (req, res) => {
    const has = (req.headers.cookie ?? '').split(/;\s*/).some((c) => c.startsWith(`${cookieName}=`));
    if (!has) res.setHeader('set-cookie', `${cookieName}=${name}-${++issued}; Path=/; HttpOnly`);
  });
  return { name, ...srv };
}

/** The API body of a server on 127.0.0.1:`port`. */
export function serverBody(name: string, port: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, serverType: 'web', address: '127.0.0.1', port, ...over };
}

/** Creates a frontend (http unless `protocol` says) on a free port in front of `backendId`; answers the port. */
export async function addFrontend(
  ok: (method: string, path: string, body?: unknown) => Promise<{ status?: unknown }>,
  loadBalancerId: string,
  name: string,
  backendId: string,
  protocol = 'http',
  extra: Record<string, unknown> = {},
): Promise<number> {
  const port = await freePort();
  const fe = await ok('POST', '/frontends', {
    loadBalancerId,
    name,
    protocol,
    port,
    defaultBackendId: backendId,
    ...extra,
  });
  if (!(fe.status as { listening?: boolean } | undefined)?.listening)
    throw new Error(`frontend ${name} not listening: ${JSON.stringify(fe.status)}`);
  return port;
}

/** The `status` part of a server as the API answers it (API.md). */
export interface ServerStatusBody {
  health: string;
  state: string;
  slowStartFactor: number;
  activeConnections: number;
  reason: string | null;
}

/** A server as the API answers it. */
export interface ServerBody {
  id: string;
  name: string;
  enabled: boolean;
  weight: number;
  status: ServerStatusBody;
}
