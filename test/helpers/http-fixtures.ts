import http from 'node:http';
import net from 'node:net';
import type { Backend, ConfigState, Frontend } from '../../src/config/model.ts';
import { createHttpListener } from '../../src/dataplane/http/listener.ts';
import { type RawAnswer, rawHttp } from './http-client.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from './plane.ts';

/** A node:http backend on an ephemeral port that counts TCP connections and requests. */
export interface TestBackend {
  port: number;
  server: http.Server;
  connections: number;
  requests: number;
  /** Raw request heads seen (method, url, headers). */
  seen: http.IncomingMessage[];
  close(): Promise<void>;
}

/** Starts a node:http backend; `handler` answers (default: 200 "ok:<port>"). */
export async function startBackend(handler?: http.RequestListener): Promise<TestBackend> {
  const b: TestBackend = {
    port: 0,
    server: http.createServer(),
    connections: 0,
    requests: 0,
    seen: [],
    close: async () => {
      b.server.closeAllConnections();
      await new Promise((r) => b.server.close(r));
    },
  };
  b.server.keepAliveTimeout = 30_000;
  b.server.on('connection', () => b.connections++);
  b.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    b.requests++;
    b.seen.push(req);
    if (handler) handler(req, res);
    else {
      req.resume();
      req.on('end', () => res.end(`ok:${b.port}`));
    }
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as net.AddressInfo).port;
  return b;
}

/** A raw TCP backend: `onConnection` gets each socket; counts connections and bytes received. */
export async function startRawBackend(onConnection: (s: net.Socket) => void): Promise<{
  port: number;
  connections: number;
  received: number;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const o = { port: 0, connections: 0, received: 0, close: async () => {} };
  const srv = net.createServer((s) => {
    o.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => {
      o.received += d.length;
    });
    s.on('error', () => {});
    onConnection(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  o.port = (srv.address() as net.AddressInfo).port;
  o.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  };
  return o;
}

/** A proxy under test: an http frontend `fe` in front of backend `be` (and any extra backends). */
export interface TestProxy {
  port: number;
  config: ConfigState;
  plane: ReturnType<typeof makePlane>['plane'];
  runtime: ReturnType<typeof makePlane>['runtime'];
  apply(config: ConfigState): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a plane with `{ http: createHttpListener }`, a frontend `fe` on a free port whose
 * default backend `be` holds one server per given port (`s0`, `s1`, …).
 */
export async function startProxy(
  serverPorts: number[],
  options: { backend?: Partial<Backend>; frontend?: Partial<Frontend>; extra?: (c: ConfigState) => void } = {},
): Promise<TestProxy> {
  const port = await freePort();
  const config = baseConfig();
  config.backends.push(backend('be', 'http', options.backend));
  for (const [i, p] of serverPorts.entries()) config.servers.push(server(`s${i}`, 'be', p));
  config.frontends.push(frontend('fe', 'http', port, 'be', options.frontend));
  options.extra?.(config);
  const p = makePlane({ http: createHttpListener });
  await p.apply(config);
  const status = p.plane.status('fe');
  if (!status?.listening) throw new Error(`frontend not listening: ${status?.reason}`);
  return {
    port,
    config,
    plane: p.plane,
    runtime: p.runtime,
    apply: (c) => p.apply(c),
    close: () => p.plane.close(200),
  };
}

/**
 * Sends raw bytes on a new connection and collects everything until the proxy closes it or
 * `waitMs` passes with the connection still open: `rawHttp` (./http-client.ts) with a 1 s wait.
 */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 1000): Promise<RawAnswer> {
  return rawHttp(port, bytes, { waitMs });
}

/** A port with nothing listening on 127.0.0.1 (bound, then released): connecting is refused. */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A keep-alive http.Agent with one socket, to prove connection reuse. */
export function oneSocketAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 1 });
}

/**
 * GET/POST through node:http; answers status, headers and body text. `write` sends the body
 * and ends the request (default: `req.end(options.body)`).
 */
export function request(
  port: number,
  options: http.RequestOptions & { body?: string | Buffer } = {},
  write?: (req: http.ClientRequest) => void,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = options;
    const req = http.request({ host: '127.0.0.1', port, path: '/', ...rest }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (write) write(req);
    else req.end(body);
  });
}
