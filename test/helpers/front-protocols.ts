import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import http2 from 'node:http2';
import { createBalancer } from '../../src/balancer/registry.ts';
import { parseCertificateUpload } from '../../src/certificates/pem.ts';
import { encryptSecret } from '../../src/certificates/secret.ts';
import type { Backend, Certificate, ConfigState, Frontend } from '../../src/config/model.ts';
import { compile } from '../../src/config/snapshot.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { AccessLog, AccessRecord } from '../../src/dataplane/access-log.ts';
import { httpListenerFactory } from '../../src/dataplane/http/listener.ts';
import { httpsListenerFactory } from '../../src/dataplane/https/listener.ts';
import { Plane } from '../../src/dataplane/plane.ts';
import { PersistenceManager } from '../../src/persistence/choose.ts';
import { persistenceChooser } from '../../src/persistence/http-chooser.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { TestPki } from '../tls-pki.ts';
import { request } from './http-fixtures.ts';
import { backend, baseConfig, freePort, frontend, server } from './plane.ts';

/**
 * One HTTP behaviour, tested once per front protocol (Envoy's HttpProtocolIntegrationTest,
 * HAProxy's reg-tests): `FRONT_PROTOCOLS` lists them, `startFrontProxy(protocol, …)` starts a
 * plane whose frontend `fe` speaks it (`http/1.1`: an http frontend; `h2`: an https frontend
 * with a test certificate, clients negotiate h2 by ALPN), and `proxy.request(…)` sends one
 * request the way a client of that protocol does. Persistence (cookie, source-ip) is wired
 * like main.ts; an in-memory access log records every line.
 */
export type FrontProtocol = 'http/1.1' | 'h2';
export const FRONT_PROTOCOLS: readonly FrontProtocol[] = ['http/1.1', 'h2'];

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body in pieces `delayMs` apart (no content-length: chunked / DATA frames). */
  pieces?: string[];
  delayMs?: number;
  /** Source address (any 127.0.0.0/8 address on Linux): a connection of its own from there. */
  localAddress?: string;
  /** HTTP/1.1: the agent (e.g. keep-alive, to reuse one connection); h2 always reuses its session. */
  agent?: http.Agent;
}

/**
 * A client of one front protocol for a proxy port: `request(…)` sends one request the way a
 * client of that protocol does (HTTP/1.1: a new connection per request; h2: streams of one
 * session, one session per `localAddress`), `session()` is the h2 session (several streams on
 * one connection), `close()` ends them.
 */
export interface FrontClient {
  request(options?: RequestOptions): Promise<Answer>;
  session(): http2.ClientHttp2Session;
  close(): void;
}

/** A FrontClient for `port`; h2 clients trust the test CA of `frontCertificate()`. */
export function frontClient(protocol: FrontProtocol, port: number): FrontClient {
  const sessions = new Map<string, http2.ClientHttp2Session>();
  const session = (localAddress = ''): http2.ClientHttp2Session => {
    let s = sessions.get(localAddress);
    if (s === undefined || s.closed || s.destroyed) {
      s = http2.connect(`https://127.0.0.1:${port}`, {
        ca: frontCertificate().ca,
        servername: 'proxy.test',
        ...(localAddress === '' ? {} : { localAddress }),
      });
      s.on('error', () => {});
      sessions.set(localAddress, s);
    }
    return s;
  };
  return {
    request: (o = {}) => (protocol === 'h2' ? h2Request(session(o.localAddress), o) : h1Request(port, o)),
    session: () => session(),
    close: () => {
      for (const s of sessions.values()) s.destroy();
      sessions.clear();
    },
  };
}

/**
 * Through the API of a running Fulcrum (`ok` = TestFulcrum.ok): a frontend `name` of the front
 * protocol (`http/1.1`: `http`; `h2`: `https` with the test certificate, uploaded once per
 * `ok`) on a free port in front of `backendId`, with `extra` fields; answers its id and port.
 */
export async function addFrontFrontend(
  ok: (method: string, path: string, body?: unknown) => Promise<{ id?: unknown; status?: { listening?: boolean } }>,
  protocol: FrontProtocol,
  body: { loadBalancerId: string; name: string; defaultBackendId: string; [k: string]: unknown },
): Promise<{ id: string; port: number }> {
  const port = await freePort();
  let certificateIds: string[] | undefined;
  if (protocol === 'h2') {
    let id = uploaded.get(ok);
    if (id === undefined) {
      id = (
        await ok('POST', '/certificates', { name: 'front-protocols', kind: 'server', pem: frontCertificate().bundle })
      ).id as string;
      uploaded.set(ok, id);
    }
    certificateIds = [id];
  }
  const fe = await ok('POST', '/frontends', {
    protocol: protocol === 'h2' ? 'https' : 'http',
    port,
    ...(certificateIds ? { certificateIds } : {}),
    ...body,
  });
  if (!fe.status?.listening) throw new Error(`frontend ${body.name} not listening: ${JSON.stringify(fe.status)}`);
  return { id: fe.id as string, port };
}
const uploaded = new WeakMap<object, string>();

export interface FrontProxy {
  protocol: FrontProtocol;
  port: number;
  config: ConfigState;
  plane: Plane;
  runtime: Runtime;
  records: AccessRecord[];
  apply(config: ConfigState): Promise<void>;
  request(options?: RequestOptions): Promise<Answer>;
  /** An HTTP/2 session to the proxy (h2 only), for tests that need several streams on one connection. */
  session(): http2.ClientHttp2Session;
  close(): Promise<void>;
}

let pki: { ca: string; bundle: string } | undefined;
/** The test CA (PEM) and a server certificate bundle for `proxy.test` / 127.0.0.1 signed by it (made once). */
export function frontCertificate(): { ca: string; bundle: string } {
  if (pki === undefined) {
    const p = new TestPki();
    const ca = p.ca('front protocols CA');
    const leaf = p.leaf(ca, { cn: 'proxy.test', sans: ['DNS:proxy.test', 'IP:127.0.0.1'] });
    pki = { ca: ca.certPem, bundle: leaf.bundle };
  }
  return pki;
}

/** Starts a plane with frontend `fe` (`protocol`) → backend `be` holding one server per port (`s0`, `s1`, …). */
export async function startFrontProxy(
  protocol: FrontProtocol,
  serverPorts: number[],
  options: { backend?: Partial<Backend>; frontend?: Partial<Frontend>; extra?: (c: ConfigState) => void } = {},
): Promise<FrontProxy> {
  const port = await freePort();
  const config = baseConfig();
  config.backends.push(backend('be', 'http', options.backend));
  for (const [i, p] of serverPorts.entries()) config.servers.push(server(`s${i}`, 'be', p));
  const secretKey = randomBytes(32);
  if (protocol === 'h2') {
    const t = frontCertificate();
    const parsed = parseCertificateUpload('server', t.bundle, Date.now());
    const cert: Certificate = {
      id: 'c1',
      name: 'c1',
      kind: 'server',
      certPem: parsed.certPem,
      keyEncrypted: encryptSecret(parsed.keyPem as string, secretKey, parsed.fingerprintSha256),
      subjects: parsed.subjects,
      issuer: parsed.issuer,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
      fingerprintSha256: parsed.fingerprintSha256,
    };
    config.certificates.push(cert);
  }
  config.frontends.push(
    frontend('fe', protocol === 'h2' ? 'https' : 'http', port, 'be', {
      ...(protocol === 'h2' ? { certificateIds: ['c1'] } : {}),
      ...options.frontend,
    }),
  );
  options.extra?.(config);
  const runtime = new Runtime(createBalancer);
  const persistence = new PersistenceManager({ cookieKeys: ['front-protocols-test-key'] });
  const chooser = persistenceChooser(persistence, () => runtime.clock.now());
  const records: AccessRecord[] = [];
  const accessLog: AccessLog = {
    write: (r) => records.push(structuredClone(r)),
    writeLines: () => {},
    close: () => {},
  };
  const plane = new Plane(
    runtime,
    { http: httpListenerFactory({ chooser }), https: httpsListenerFactory({ secretKey, chooser }) },
    silentLogger,
    { accessLog },
  );
  let version = 0;
  const apply = (c: ConfigState): Promise<void> => {
    c.version = ++version;
    return plane.apply(compile(structuredClone(c)));
  };
  await apply(config);
  const status = plane.status('fe');
  if (!status?.listening) throw new Error(`frontend not listening: ${status?.reason}`);
  const client = frontClient(protocol, port);
  return {
    protocol,
    port,
    config,
    plane,
    runtime,
    records,
    apply,
    request: client.request,
    session: client.session,
    close: async () => {
      client.close();
      await plane.close(200);
    },
  };
}

function h1Request(port: number, o: RequestOptions): Promise<Answer> {
  return request(
    port,
    {
      method: o.method ?? 'GET',
      path: o.path ?? '/',
      headers: o.headers,
      agent: o.agent ?? false,
      ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }),
    },
    (req) => sendBody(req, o),
  );
}

function h2Request(session: http2.ClientHttp2Session, o: RequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const noBody = o.body === undefined && o.pieces === undefined;
    // an h2 client says the host in :authority (RFC 9113 §8.3.1), not in a host field
    const { host, ...rest } = o.headers ?? {};
    const req = session.request(
      {
        ':method': o.method ?? 'GET',
        ':path': o.path ?? '/',
        ...(host === undefined ? {} : { ':authority': host }),
        ...rest,
      },
      { endStream: noBody },
    );
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      headers = h as Record<string, string | string[] | undefined>;
    });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (status === 0) reject(new Error('stream ended without an answer'));
      else resolve({ status, headers, body: Buffer.concat(chunks).toString() });
    });
    req.on('close', () => {
      if (status === 0) reject(new Error(`stream closed without an answer (code ${req.rstCode})`));
      else resolve({ status, headers, body: Buffer.concat(chunks).toString() });
    });
    req.on('error', (err) => {
      if (status === 0) reject(err);
    });
    if (!noBody) sendBody(req, o);
  });
}

function sendBody(req: http.ClientRequest | http2.ClientHttp2Stream, o: RequestOptions): void {
  if (o.pieces !== undefined) {
    const pieces = [...o.pieces];
    const next = (): void => {
      const p = pieces.shift();
      if (p === undefined) {
        req.end();
        return;
      }
      req.write(p);
      setTimeout(next, o.delayMs ?? 10);
    };
    next();
    return;
  }
  req.end(o.body);
}

/**
 * `client.request` shaped like persistence-support's `send(port, …)` (the port is the
 * client's own): status, body and the Set-Cookie values.
 */
export function persistenceSend(
  client: () => FrontClient,
): (
  port: number,
  o?: { cookie?: string; localAddress?: string; path?: string },
) => Promise<{ status: number; body: string; setCookie: string[] | undefined }> {
  return async (_port, o = {}) => {
    const a = await client().request({
      path: o.path ?? '/',
      ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }),
      headers: o.cookie ? { cookie: o.cookie } : {},
    });
    const sc = a.headers['set-cookie'];
    return { status: a.status, body: a.body, setCookie: sc === undefined ? undefined : [sc].flat() };
  };
}
