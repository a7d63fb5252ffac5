import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { compile } from '../src/config/snapshot.ts';
import { createHttpListener } from '../src/dataplane/http/listener.ts';
import { encodeProxyV1, encodeProxyV2, readProxyHeader } from '../src/dataplane/proxy-protocol.ts';
import { createTcpListener } from '../src/dataplane/tcp/listener.ts';
import { healthChecks } from '../src/health/registry.ts';
import { buildTarget } from '../src/health/target.ts';
import { type FrontProxy, frontCertificate, frontClient, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from './helpers/plane.ts';

/**
 * Issue 15 point 3, PROXY protocol with real peers from Debian: nginx as a server behind Fulcrum
 * (`listen … proxy_protocol`, answering `$proxy_protocol_addr`) and HAProxy in front of Fulcrum
 * (`send-proxy` / `send-proxy-v2`), v1 and v2, IPv4 and IPv6 (::1); malformed and untrusted
 * headers refused. A PROXY-speaking peer written here covers what needs no binary.
 */

const NGINX = '/usr/sbin/nginx';
const NGINX_STREAM = '/usr/lib/nginx/modules/ngx_stream_module.so';
const HAPROXY = '/usr/sbin/haproxy';
const noNginx =
  existsSync(NGINX) && existsSync(NGINX_STREAM) ? false : 'nginx (with libnginx-mod-stream) not installed';
const noHaproxy = existsSync(HAPROXY) ? false : 'haproxy not installed';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-pp-'));
const children: ChildProcess[] = [];

function child(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr?.on('data', (d) => {
    err += d;
  });
  c.on('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`${cmd} exited ${code}: ${err}\n`);
  });
  children.push(c);
  return c;
}

async function listening(port: number, host = '127.0.0.1'): Promise<void> {
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const c = net.connect(port, host);
        c.on('connect', () => {
          c.destroy();
          resolve(true);
        });
        c.on('error', () => resolve(false));
      }),
    10_000,
  );
}

/** One HTTP GET from `localAddress` (a loopback source of our choosing); the body, or `closed` when the connection ended first. */
function get(port: number, host = '127.0.0.1', localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', () => resolve('closed'));
    req.setTimeout(5000, () => req.destroy());
  });
}

/** Connects from `localAddress`, writes `send`, and reads until close; the text received. */
function raw(port: number, send: Buffer | string, host = '127.0.0.1', localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    let got = '';
    c.on('connect', () => c.write(send));
    c.on('data', (d) => {
      got += d;
    });
    c.on('error', () => {});
    c.on('close', () => resolve(got));
    c.setTimeout(5000, () => c.destroy());
  });
}

/** A node HTTP server answering the X-Forwarded-For it saw. */
async function xffEcho(): Promise<{ port: number; close: () => void }> {
  const srv = http.createServer((req, res) => res.end(`xff=${req.headers['x-forwarded-for']}\n`));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => {
      srv.closeAllConnections();
      srv.close();
    },
  };
}

describe('PROXY protocol (issue 15 point 3)', () => {
  const { plane, apply } = makePlane({ http: createHttpListener, tcp: createTcpListener });
  const ports: Record<string, number> = {};
  let echo: Awaited<ReturnType<typeof xffEcho>>;
  const peerSeen: string[] = [];
  let peer: net.Server;
  let peerPort = 0;

  before(async () => {
    for (const k of [
      'ngV1',
      'ngV2',
      'ngTcp',
      'fHttpV1',
      'fHttpV2',
      'fHttp6',
      'fTcp',
      'fAccept',
      'fAcceptTcp',
      'haV1',
      'haV2',
      'haTcp',
      'fPeer',
    ])
      ports[k] = await freePort();
    echo = await xffEcho();
    // the PROXY-speaking peer written here: reads the header, answers the address it names
    peer = net.createServer({ pauseOnConnect: true }, (s) => {
      s.on('error', () => {});
      readProxyHeader(s, 2000, (info) => {
        peerSeen.push(info === null ? 'invalid' : info.source === null ? 'local' : info.source.sourceAddress);
        s.end(`peer=${info?.source?.sourceAddress ?? 'none'}\n`);
      });
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    peerPort = (peer.address() as net.AddressInfo).port;

    const c = baseConfig();
    c.backends.push(
      backend('bNgV1', 'http', { proxyProtocol: 'v1' }),
      backend('bNgV2', 'http', { proxyProtocol: 'v2' }),
      backend('bNgTcp', 'tcp', { proxyProtocol: 'v2' }),
      backend('bEcho', 'http'),
      backend('bPeer', 'tcp', { proxyProtocol: 'v1' }),
    );
    c.servers.push(
      server('sNgV1', 'bNgV1', ports.ngV1 as number),
      server('sNgV2', 'bNgV2', ports.ngV2 as number),
      server('sNgTcp', 'bNgTcp', ports.ngTcp as number),
      server('sEcho', 'bEcho', echo.port),
      server('sPeer', 'bPeer', peerPort),
    );
    const trusted = { acceptProxyProtocol: true, trustedProxies: ['127.0.0.1/32', '::1/128'] };
    c.frontends.push(
      frontend('fHttpV1', 'http', ports.fHttpV1 as number, 'bNgV1'),
      frontend('fHttpV2', 'http', ports.fHttpV2 as number, 'bNgV2'),
      frontend('fHttp6', 'http', ports.fHttp6 as number, 'bNgV2', { bindAddress: '::1' }),
      frontend('fTcp', 'tcp', ports.fTcp as number, 'bNgTcp'),
      frontend('fAccept', 'http', ports.fAccept as number, 'bEcho', trusted),
      frontend('fAcceptTcp', 'tcp', ports.fAcceptTcp as number, 'bNgTcp', trusted),
      frontend('fPeer', 'tcp', ports.fPeer as number, 'bPeer', { bindAddress: '::1' }),
    );
    await apply(c);

    if (!noNginx) {
      writeFileSync(
        join(dir, 'nginx.conf'),
        `load_module ${NGINX_STREAM};
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 128; }
http {
  access_log ${dir}/nginx-access.log;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${ports.ngV1} proxy_protocol;
    listen 127.0.0.1:${ports.ngV2} proxy_protocol;
    location / { return 200 "pp=$proxy_protocol_addr xff=$http_x_forwarded_for\\n"; }
  }
}
stream {
  server { listen 127.0.0.1:${ports.ngTcp} proxy_protocol; return "pp=$proxy_protocol_addr\\n"; }
}
`,
      );
      child(NGINX, ['-p', dir, '-e', `${dir}/nginx-error.log`, '-c', join(dir, 'nginx.conf')]);
      await listening(ports.ngV1 as number);
      await listening(ports.ngTcp as number);
    }
    if (!noHaproxy) {
      writeFileSync(
        join(dir, 'haproxy.cfg'),
        `global
  maxconn 256
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
listen v1
  bind 127.0.0.1:${ports.haV1}
  bind [::1]:${ports.haV1}
  server f 127.0.0.1:${ports.fAccept} send-proxy
listen v2
  bind 127.0.0.1:${ports.haV2}
  bind [::1]:${ports.haV2}
  server f 127.0.0.1:${ports.fAccept} send-proxy-v2
listen tcp
  bind 127.0.0.1:${ports.haTcp}
  bind [::1]:${ports.haTcp}
  server f 127.0.0.1:${ports.fAcceptTcp} send-proxy-v2
`,
      );
      child(HAPROXY, ['-db', '-f', join(dir, 'haproxy.cfg')]);
      await listening(ports.haV1 as number);
      await listening(ports.haTcp as number);
    }
  });

  after(async () => {
    // SIGTERM first: a SIGKILLed nginx master leaves its worker listening, an orphan.
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 2000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    echo?.close();
    peer?.close();
    await plane.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  test('Fulcrum → nginx, http backend proxyProtocol v1 and v2: nginx sees the client address', {
    skip: noNginx,
  }, async () => {
    assert.match(await get(ports.fHttpV1 as number, '127.0.0.1', '127.0.0.7'), /^pp=127\.0\.0\.7 xff=127\.0\.0\.7$/m);
    assert.match(await get(ports.fHttpV2 as number, '127.0.0.1', '127.0.0.8'), /^pp=127\.0\.0\.8 xff=127\.0\.0\.8$/m);
    // IPv6 client (TCP6 header) to an IPv4 server
    assert.match(await get(ports.fHttp6 as number, '::1'), /^pp=::1 xff=::1$/m);
    // a keep-alive client: several requests on one client connection, each server connection's header is its own
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const local of ['127.0.0.11', '127.0.0.12']) {
        for (let i = 0; i < 3; i++) {
          const body = await new Promise<string>((resolve, reject) => {
            http
              .get({ host: '127.0.0.1', port: ports.fHttpV2, agent, localAddress: local }, (res) => {
                let b = '';
                res.on('data', (d) => {
                  b += d;
                });
                res.on('end', () => resolve(b));
              })
              .on('error', reject);
          });
          assert.match(body, new RegExp(`^pp=${local.replaceAll('.', '\\.')} `, 'm'));
        }
      }
    } finally {
      agent.destroy();
    }
    const log = readFileSync(join(dir, 'nginx-error.log'), 'utf8');
    // (the readiness probe's empty connection is logged as `broken header: ""`)
    assert.doesNotMatch(log, /broken header: "[^"]/);
  });

  test('Fulcrum → nginx stream, tcp backend proxyProtocol v2', { skip: noNginx }, async () => {
    assert.equal(await raw(ports.fTcp as number, '', '127.0.0.1', '127.0.0.9'), 'pp=127.0.0.9\n');
  });

  test('Fulcrum → PROXY peer written here: tcp v1 from an IPv6 client (TCP6)', async () => {
    assert.equal(await raw(ports.fPeer as number, '', '::1'), 'peer=::1\n');
  });

  test('HAProxy send-proxy / send-proxy-v2 → Fulcrum http acceptProxyProtocol: X-Forwarded-For is the client', {
    skip: noHaproxy,
  }, async () => {
    assert.equal(await get(ports.haV1 as number, '127.0.0.1', '127.0.0.21'), 'xff=127.0.0.21\n');
    assert.equal(await get(ports.haV2 as number, '127.0.0.1', '127.0.0.22'), 'xff=127.0.0.22\n');
    assert.equal(await get(ports.haV1 as number, '::1'), 'xff=::1\n');
    assert.equal(await get(ports.haV2 as number, '::1'), 'xff=::1\n');
  });

  test('HAProxy → Fulcrum tcp (accept) → nginx stream: the client address crosses both hops', {
    skip: noHaproxy || noNginx,
  }, async () => {
    assert.equal(await raw(ports.haTcp as number, '', '127.0.0.1', '127.0.0.23'), 'pp=127.0.0.23\n');
    assert.equal(await raw(ports.haTcp as number, '', '::1'), 'pp=::1\n');
  });

  test('acceptProxyProtocol: malformed, missing and untrusted headers are refused and counted', async () => {
    const counters = plane.counters.get('fAccept');
    const tcpCounters = plane.counters.get('fAcceptTcp');
    assert.ok(counters && tcpCounters);
    const before = counters.proxyProtocolRefused;
    const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    // no header at all
    assert.equal(await raw(ports.fAccept as number, request), '');
    // malformed v1 and v2
    assert.equal(await raw(ports.fAccept as number, `PROXY TCP4 1.2.3.999 1.2.3.4 1 2\r\n${request}`), '');
    assert.equal(await raw(ports.fAccept as number, `PROXY TCP4 1.2.3.4 1.2.3.4 1 2 ${'x'.repeat(120)}`), '');
    const badV2 = encodeProxyV2({
      sourceAddress: '10.0.0.1',
      sourcePort: 1,
      destinationAddress: '10.0.0.2',
      destinationPort: 2,
    });
    badV2[12] = 0x31;
    assert.equal(await raw(ports.fAccept as number, Buffer.concat([badV2, Buffer.from(request)])), '');
    // a valid header from an untrusted source (127.0.0.30 is not in trustedProxies)
    const good = encodeProxyV1({
      sourceAddress: '10.1.1.1',
      sourcePort: 5,
      destinationAddress: '127.0.0.1',
      destinationPort: 80,
    });
    assert.equal(
      await raw(ports.fAccept as number, Buffer.concat([good, Buffer.from(request)]), '127.0.0.1', '127.0.0.30'),
      '',
    );
    assert.equal(counters.proxyProtocolRefused - before, 5);
    assert.ok(counters.terminations['bad-request'] >= 5);
    // the same valid header from a trusted source is believed
    assert.match(
      await raw(
        ports.fAccept as number,
        Buffer.concat([good, Buffer.from(`${request.slice(0, -2)}Connection: close\r\n\r\n`)]),
      ),
      /xff=10\.1\.1\.1/,
    );
    // tcp frontend: garbage refused, counted
    const tcpBefore = tcpCounters.proxyProtocolRefused;
    assert.equal(await raw(ports.fAcceptTcp as number, 'hello\r\n'), '');
    assert.equal(tcpCounters.proxyProtocolRefused - tcpBefore, 1);
    assert.equal(peerSeen.includes('invalid'), false);
  });

  /** Probes `port` with a `type` check of a backend sending `pp`, the check asking for the header or not. */
  async function check(type: 'http' | 'tcp', pp: 'v1' | 'v2', port: number, withHeader: boolean) {
    const b = backend('b1', type === 'http' ? 'http' : 'tcp', { proxyProtocol: pp });
    b.healthCheck = {
      ...b.healthCheck,
      enabled: true,
      type,
      timeoutSeconds: 2,
      proxyProtocol: withHeader,
      ...(type === 'http' ? { http: { method: 'GET', path: '/', expectedCodes: '200' } } : {}),
    };
    const c = baseConfig();
    c.backends.push(b);
    c.servers.push(server('s1', 'b1', port));
    const snap = compile(c);
    const target = buildTarget(snap.backends.get('b1')!, snap.servers.get('s1')!);
    return healthChecks[type].probe(target, AbortSignal.timeout(2000));
  }

  test('health checks with healthCheck.proxyProtocol send LOCAL (v2) / UNKNOWN (v1)', async () => {
    const seen = peerSeen.length;
    assert.equal((await check('tcp', 'v2', peerPort, true)).ok, true);
    assert.equal((await check('tcp', 'v1', peerPort, true)).ok, true);
    await waitFor(() => peerSeen.length >= seen + 2, 2000);
    assert.deepEqual(peerSeen.slice(seen, seen + 2), ['local', 'local']);
  });

  test('nginx proxy_protocol: an http check passes with the header, fails without', { skip: noNginx }, async () => {
    const v1 = await check('http', 'v1', ports.ngV1 as number, true);
    assert.equal(v1.ok, true, v1.message);
    const v2 = await check('http', 'v2', ports.ngV2 as number, true);
    assert.equal(v2.ok, true, v2.message);
    assert.equal((await check('http', 'v2', ports.ngV2 as number, false)).ok, false);
  });
});

describe('PROXY protocol on an https frontend: the header before the TLS handshake (issue 15 point 3)', () => {
  let echo: Awaited<ReturnType<typeof xffEcho>>;
  let p: FrontProxy;
  let haPort = 0;
  const hdir = mkdtempSync(join(tmpdir(), 'fulcrum-pp-tls-'));
  let ha: ChildProcess | undefined;

  before(async () => {
    echo = await xffEcho();
    p = await startFrontProxy('h2', [echo.port], {
      frontend: { acceptProxyProtocol: true, trustedProxies: ['127.0.0.1/32'] },
    });
    haPort = await freePort();
    if (noHaproxy) return;
    writeFileSync(
      join(hdir, 'haproxy.cfg'),
      `defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
listen tls
  bind 127.0.0.1:${haPort}
  server f 127.0.0.1:${p.port} send-proxy-v2
`,
    );
    ha = spawn(HAPROXY, ['-db', '-f', join(hdir, 'haproxy.cfg')], { stdio: 'ignore' });
    await listening(haPort);
  });

  after(async () => {
    ha?.kill('SIGKILL');
    echo?.close();
    await p?.close();
    rmSync(hdir, { recursive: true, force: true });
  });

  test('HAProxy send-proxy-v2 → https: HTTP/1.1 and HTTP/2 see the client address', { skip: noHaproxy }, async () => {
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port: haPort,
            path: '/',
            agent: false,
            ca: frontCertificate().ca,
            servername: 'proxy.test',
            localAddress: '127.0.0.41',
          },
          (res) => {
            let b = '';
            res.on('data', (d) => {
              b += d;
            });
            res.on('end', () => resolve(b));
          },
        )
        .on('error', reject);
    });
    assert.equal(body, 'xff=127.0.0.41\n');
    const h2 = frontClient('h2', haPort);
    try {
      const a = await h2.request({ localAddress: '127.0.0.42' });
      assert.equal(a.body, 'xff=127.0.0.42\n');
    } finally {
      h2.close();
    }
  });

  test('https with acceptProxyProtocol: a bare TLS handshake (no header) is refused', async () => {
    const before = p.plane.counters.get('fe')?.proxyProtocolRefused ?? 0;
    const err = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: p.port, ca: frontCertificate().ca, servername: 'proxy.test' });
      s.on('secureConnect', () => resolve('handshake'));
      s.on('error', (e) => resolve(e.message));
      s.on('close', () => resolve('closed'));
    });
    assert.notEqual(err, 'handshake');
    assert.equal((p.plane.counters.get('fe')?.proxyProtocolRefused ?? 0) - before, 1);
  });
});
