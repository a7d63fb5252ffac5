// H1, H3, T3: every probe type against real peers on this machine (PostgreSQL, MariaDB, Redis)
// and servers started here (TCP, HTTP, HTTPS, UDP), including wrong-protocol and silent peers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultBackend } from '../src/config/defaults.ts';
import type { HealthCheck as HealthCheckSettings, HealthCheckType } from '../src/config/model.ts';
import { compile } from '../src/config/snapshot.ts';
import { healthChecks } from '../src/health/registry.ts';
import { buildTarget } from '../src/health/target.ts';
import type { ProbeResult } from '../src/health/types.ts';
import { baseConfig, server } from './helpers/plane.ts';

const PG = 5432;
const MYSQL = 3306;
const REDIS = 6379;

const closers: (() => unknown)[] = [];
let tmp = '';
let caPem = '';
let ports: Record<string, number> = {};

function listen(srv: Server | HttpServer): Promise<number> {
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as AddressInfo).port)));
}

function tcpServer(onConn: (s: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  closers.push(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return listen(srv);
}

function udpServer(onMsg: (msg: Buffer, reply: (b: Buffer) => void) => void): Promise<number> {
  const sock: UdpSocket = createSocket('udp4');
  sock.on('message', (msg, rinfo) => onMsg(msg, (b) => sock.send(b, rinfo.port, rinfo.address)));
  closers.push(() => sock.close());
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock.address().port)));
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  const port = await listen(srv);
  await new Promise((r) => srv.close(r));
  return port;
}

function makeCerts(): { key: string; cert: string; ca: string } {
  tmp = mkdtempSync(path.join(tmpdir(), 'fulcrum-health-'));
  const f = (n: string) => path.join(tmp, n);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Fulcrum Test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=backend.test',
    '-keyout',
    f('leaf.key'),
    '-out',
    f('leaf.csr'),
  ]);
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:backend.test,IP:127.0.0.1\n' > ${f('ext.cnf')}`]);
  run([
    'x509',
    '-req',
    '-in',
    f('leaf.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
    '-out',
    f('leaf.pem'),
  ]);
  return {
    key: readFileSync(f('leaf.key'), 'utf8'),
    cert: readFileSync(f('leaf.pem'), 'utf8'),
    ca: readFileSync(f('ca.pem'), 'utf8'),
  };
}

before(async () => {
  const certs = makeCerts();
  caPem = certs.ca;
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const url = req.url ?? '/';
    if (url === '/ok') return res.end('fine');
    if (url === '/missing') return res.writeHead(404).end('no');
    if (url === '/moved') return res.writeHead(302, { location: '/ok' }).end();
    if (url === '/nocontent') return res.writeHead(204).end();
    if (url === '/status') return res.end('service: up\nversion: 3\n');
    if (url === '/host') return res.writeHead(req.headers.host === 'health.example' ? 200 : 421).end();
    if (url === '/method') return res.writeHead(req.method === 'HEAD' ? 200 : 405).end();
    if (url === '/big') {
      res.write('x'.repeat(70 * 1024));
      return res.end('MARKER');
    }
    if (url === '/silent') return; // never answers
    res.writeHead(500).end();
  };
  const http = createHttpServer(handler);
  const https = createHttpsServer({ key: certs.key, cert: certs.cert }, handler);
  for (const s of [http, https]) {
    closers.push(() => {
      s.closeAllConnections();
      s.close();
    });
  }
  ports = {
    http: await listen(http),
    https: await listen(https),
    echo: await tcpServer((s) => s.pipe(s)),
    silent: await tcpServer(() => {}),
    garbage: await tcpServer((s) => s.end('hello there, not your protocol\r\n')),
    noauth: await tcpServer((s) => s.once('data', () => s.write('-NOAUTH Authentication required.\r\n'))),
    loading: await tcpServer((s) =>
      s.once('data', () => s.write('-LOADING Redis is loading the dataset in memory\r\n')),
    ),
    closed: await closedPort(),
    udpEcho: await udpServer((m, reply) => reply(Buffer.concat([Buffer.from('pong:'), m]))),
    udpSilent: await udpServer(() => {}),
  };
  const u = createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  ports.udpClosed = u.address().port;
  await new Promise<void>((r) => u.close(() => r()));
});

after(() => {
  for (const c of closers) c();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Probes 127.0.0.1:port with a check of `type` built the way the scheduler builds it. */
async function probe(
  type: HealthCheckType,
  port: number,
  over: Partial<HealthCheckSettings> = {},
  tls?: { ca?: string; sni?: string; verify?: boolean },
  timeoutMs = 1500,
): Promise<ProbeResult> {
  const b = defaultBackend(
    'b1',
    'lb1',
    'b1',
    type === 'udp' ? 'udp' : type === 'http' || type === 'https' ? 'http' : 'tcp',
  );
  b.healthCheck = { ...b.healthCheck, type, timeoutSeconds: timeoutMs / 1000, ...over };
  if ((type === 'http' || type === 'https') && !b.healthCheck.http)
    b.healthCheck.http = { method: 'GET', path: '/', expectedCodes: '200-399' };
  b.tls = { enabled: true, caCertificateId: null, sni: tls?.sni ?? null, verify: tls?.verify ?? true };
  const snap = compile({
    ...baseConfig({ allowedNetworks: [], ipAsBackend: true, maxServers: 10 }),
    backends: [b],
    servers: [server('s1', 'b1', port, { serverType: 'other' })],
  });
  const target = buildTarget(snap.backends.get('b1')!, snap.servers.get('s1')!, (backend) => ({
    rejectUnauthorized: backend.tls.verify,
    ...(tls?.ca ? { ca: tls.ca } : {}),
    ...(backend.tls.sni ? { servername: backend.tls.sni } : {}),
  }));
  const started = Date.now();
  const r = await healthChecks[type].probe(target, AbortSignal.timeout(timeoutMs));
  assert.ok(Date.now() - started < timeoutMs + 1000, 'a probe resolves within its timeout');
  assert.equal(typeof r.latencyMs, 'number');
  return r;
}

function expect(r: ProbeResult, ok: boolean, reason: string, message?: RegExp): void {
  assert.equal(r.reason, reason, `reason (message: ${r.message})`);
  assert.equal(r.ok, ok, r.message);
  if (message) assert.match(r.message, message);
}

test('tcp: connect ok, refused, silent peers are still "up"', async () => {
  expect(await probe('tcp', ports.echo!), true, 'ok');
  expect(await probe('tcp', ports.silent!), true, 'ok');
  expect(await probe('tcp', ports.closed!), false, 'connection-refused');
  // H2: the check port overrides the server's port
  expect(await probe('tcp', ports.closed!, { port: ports.echo! }), true, 'ok');
});

test('http: default 2xx-3xx, expected codes, host header, method, body match (H1, H3)', async () => {
  const http = (p: string, extra: Record<string, string> = {}) => ({
    http: { method: 'GET', path: p, expectedCodes: '200-399', ...extra },
  });
  expect(await probe('http', ports.http!, http('/ok')), true, 'ok');
  expect(await probe('http', ports.http!, http('/moved')), true, 'ok', /302/);
  expect(await probe('http', ports.http!, http('/missing')), false, 'response-code-mismatch', /404/);
  expect(await probe('http', ports.http!, http('/nope')), false, 'response-code-mismatch', /500/);
  expect(await probe('http', ports.http!, http('/moved', { expectedCodes: '200' })), false, 'response-code-mismatch');
  expect(await probe('http', ports.http!, http('/nocontent', { expectedCodes: '200,204' })), true, 'ok');
  expect(await probe('http', ports.http!, http('/missing', { expectedCodes: '200-299,404' })), true, 'ok');
  expect(await probe('http', ports.http!, http('/host')), false, 'response-code-mismatch', /421/);
  expect(await probe('http', ports.http!, http('/host', { host: 'health.example' })), true, 'ok');
  expect(await probe('http', ports.http!, http('/method', { method: 'HEAD' })), true, 'ok');
  expect(await probe('http', ports.http!, http('/method')), false, 'response-code-mismatch', /405/);
  expect(await probe('http', ports.http!, http('/status', { expectBody: 'service: up' })), true, 'ok');
  expect(await probe('http', ports.http!, http('/status', { expectBody: '/^version: \\d+$/m' })), true, 'ok');
  expect(await probe('http', ports.http!, http('/status', { expectBody: 'service: down' })), false, 'body-mismatch');
  expect(await probe('http', ports.http!, http('/big', { expectBody: 'MARKER' })), false, 'body-mismatch', undefined); // beyond the first 64 KiB
  expect(await probe('http', ports.http!, http('/big', { expectBody: 'xxx' })), true, 'ok');
});

test('http: wrong peers give the right reason', async () => {
  const h = { http: { method: 'GET', path: '/', expectedCodes: '200-399' } };
  expect(await probe('http', ports.closed!, h), false, 'connection-refused');
  expect(await probe('http', ports.echo!, h), false, 'protocol-error');
  expect(await probe('http', ports.garbage!, h), false, 'protocol-error');
  expect(await probe('http', ports.silent!, h, undefined, 800), false, 'timeout');
  expect(await probe('http', ports.http!, { http: { ...h.http, path: '/silent' } }, undefined, 800), false, 'timeout');
  expect(await probe('http', ports.https!, h), false, 'protocol-error', undefined); // plain HTTP to a TLS port
});

test('https and tls: verified with the backend CA, untrusted without it, SNI checked (T3)', async () => {
  const h = { http: { method: 'GET', path: '/ok', expectedCodes: '200' } };
  expect(await probe('https', ports.https!, h, { ca: caPem }), true, 'ok');
  expect(await probe('https', ports.https!, h, { ca: caPem, sni: 'backend.test' }), true, 'ok');
  expect(
    await probe('https', ports.https!, h),
    false,
    'tls-untrusted',
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE|self-signed|issuer/i,
  );
  expect(await probe('https', ports.https!, h, { verify: false }), true, 'ok');
  expect(await probe('https', ports.http!, h, { ca: caPem }), false, 'protocol-error'); // TLS to a plain port
  expect(await probe('tls', ports.https!, {}, { ca: caPem }), true, 'ok');
  expect(
    await probe('tls', ports.https!, {}, { ca: caPem, sni: 'other.test' }),
    false,
    'tls-untrusted',
    /altname|other\.test/i,
  );
  expect(await probe('tls', ports.https!, {}), false, 'tls-untrusted');
  expect(await probe('tls', ports.echo!, {}, { ca: caPem }), false, 'protocol-error');
  expect(await probe('tls', ports.closed!, {}, { ca: caPem }), false, 'connection-refused');
  expect(await probe('tls', ports.silent!, {}, { ca: caPem }, 800), false, 'timeout');
});

function mysqlAborted(): { clients: number; connects: number } {
  const out = execFileSync(
    'mysql',
    ['-uroot', '-h127.0.0.1', '--protocol=tcp', '-N', '-e', "SHOW GLOBAL STATUS LIKE 'Aborted_c%'"],
    {
      encoding: 'utf8',
    },
  );
  const v = Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('\t') as [string, string]),
  );
  return { clients: Number(v.Aborted_clients), connects: Number(v.Aborted_connects) };
}

test('mysql: real login as root is ok and leaves no aborted connection; bad user is auth-failed', async () => {
  const before = mysqlAborted();
  for (let i = 0; i < 5; i++)
    expect(await probe('mysql', MYSQL, { mysql: { user: 'root' } }), true, 'ok', /logged in as root/);
  await new Promise((r) => setTimeout(r, 200)); // let the server finish the sessions
  const afterOk = mysqlAborted();
  assert.deepEqual(afterOk, before, 'Aborted_clients and Aborted_connects unchanged by healthy probes');
  expect(
    await probe('mysql', MYSQL, { mysql: { user: 'fulcrum_no_such_user' } }),
    false,
    'auth-failed',
    /1045: Access denied for user 'fulcrum_no_such_user'/,
  );
});

test('mysql: wrong peers', async () => {
  expect(
    await probe('mysql', ports.garbage!, { mysql: { user: 'root' } }),
    false,
    'protocol-error',
    /not a MySQL greeting/,
  );
  expect(await probe('mysql', ports.closed!, { mysql: { user: 'root' } }), false, 'connection-refused');
  // Redis and PostgreSQL wait for the client to speak first: no greeting ever comes.
  expect(await probe('mysql', REDIS, { mysql: { user: 'root' } }, undefined, 600), false, 'timeout');
  expect(await probe('mysql', PG, { mysql: { user: 'root' } }, undefined, 600), false, 'timeout');
});

test('postgres: startup ok; unknown database and unknown role carry the server message', async () => {
  expect(await probe('postgres', PG, { postgres: { user: 'postgres', database: 'postgres' } }), true, 'ok');
  expect(
    await probe('postgres', PG, { postgres: { user: 'postgres', database: 'fulcrum_no_such_db' } }),
    false,
    'server-error',
    /database "fulcrum_no_such_db" does not exist \(SQLSTATE 3D000\)/,
  );
  expect(
    await probe('postgres', PG, { postgres: { user: 'fulcrum_no_such_role', database: 'postgres' } }),
    false,
    'auth-failed',
    /role "fulcrum_no_such_role" does not exist/,
  );
});

test('postgres: wrong peers (Redis port, MySQL port, echo, garbage)', async () => {
  const pg = { postgres: { user: 'postgres', database: 'postgres' } };
  // Redis waits for a newline that a StartupMessage never contains: no answer at all.
  expect(await probe('postgres', REDIS, pg, undefined, 800), false, 'timeout');
  expect(await probe('postgres', MYSQL, pg), false, 'protocol-error', /not a PostgreSQL answer/);
  expect(await probe('postgres', ports.echo!, pg), false, 'protocol-error');
  expect(await probe('postgres', ports.garbage!, pg), false, 'protocol-error');
  expect(await probe('postgres', ports.closed!, pg), false, 'connection-refused');
});

test('redis: PING/PONG; NOAUTH and LOADING answers; wrong peers', async () => {
  expect(await probe('redis', REDIS), true, 'ok', /PONG/);
  expect(await probe('redis', ports.noauth!), false, 'auth-failed', /-NOAUTH/);
  expect(await probe('redis', ports.loading!), false, 'server-error', /-LOADING/);
  expect(await probe('redis', ports.http!), false, 'protocol-error', /HTTP/);
  expect(await probe('redis', PG), false, 'protocol-error');
  expect(await probe('redis', ports.silent!, {}, undefined, 600), false, 'timeout');
});

test('udp: reply ok, expect matched or not, ICMP unreachable is connection-refused, silence is timeout', async () => {
  expect(await probe('udp', ports.udpEcho!, { udp: { send: 'ping' } }), true, 'ok');
  expect(await probe('udp', ports.udpEcho!, { udp: { send: 'ping', expect: 'pong:ping' } }), true, 'ok');
  expect(await probe('udp', ports.udpEcho!, { udp: { send: 'ping', expect: 'PONG' } }), false, 'body-mismatch');
  expect(await probe('udp', ports.udpClosed!, { udp: { send: 'ping' } }), false, 'connection-refused');
  expect(await probe('udp', ports.udpSilent!, { udp: { send: 'ping' } }, undefined, 600), false, 'timeout');
});

test('https: without tlsOptionsFor, the CA certificate named by the backend (or server) is used (T3)', async () => {
  const b = defaultBackend('b1', 'lb1', 'b1', 'http');
  b.healthCheck = {
    ...b.healthCheck,
    type: 'https',
    timeoutSeconds: 2,
    http: { method: 'GET', path: '/ok', expectedCodes: '200' },
  };
  b.tls = { enabled: true, caCertificateId: 'ca1', sni: 'backend.test', verify: true };
  const cert = {
    id: 'ca1',
    name: 'test ca',
    kind: 'ca' as const,
    certPem: caPem,
    keyEncrypted: null,
    subjects: ['Fulcrum Test CA'],
    issuer: 'Fulcrum Test CA',
    notBefore: '',
    notAfter: '',
    fingerprintSha256: 'x',
  };
  const snap = compile({
    ...baseConfig({ allowedNetworks: [], ipAsBackend: true, maxServers: 10 }),
    backends: [b],
    servers: [
      server('s1', 'b1', ports.https!, { serverType: 'other' }),
      server('s2', 'b1', ports.https!, { serverType: 'other', caCertificateId: 'missing' }),
    ],
    certificates: [cert],
  });
  const be = snap.backends.get('b1')!;
  const ok = buildTarget(be, snap.servers.get('s1')!, undefined, snap.certificates);
  expect(await healthChecks.https.probe(ok, AbortSignal.timeout(2000)), true, 'ok');
  const noCa = buildTarget(be, snap.servers.get('s1')!);
  expect(await healthChecks.https.probe(noCa, AbortSignal.timeout(2000)), false, 'tls-untrusted');
  const wrongCa = buildTarget(be, snap.servers.get('s2')!, undefined, snap.certificates);
  expect(await healthChecks.https.probe(wrongCa, AbortSignal.timeout(2000)), false, 'tls-untrusted');
});
