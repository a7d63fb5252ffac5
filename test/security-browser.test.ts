import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONSOLE_DIR } from '../src/main.ts';
import { removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { type RawAnswer, rawHttp } from './helpers/http-client.ts';
import { TestPki } from './tls-pki.ts';

/**
 * Issue 10 points 4 and 5: security headers, Host and Origin checks, hostile cookies and
 * headers, failed authentications limited per client, audit of tokens and sessions, the
 * body limit, the admin token's length, and the API over HTTPS. Requests go out as raw bytes
 * (so no client cleans them up) from chosen loopback source addresses.
 */

const ADMIN = 'security-browser-admin-token-0123456789';
const ROOT = path.resolve(import.meta.dirname, '..');

/** `head` (lines joined by `\n`) plus `Connection: close` and the body, as raw bytes on a new connection. */
function raw(
  port: number,
  head: string,
  options: { localAddress?: string; body?: string | Buffer } = {},
): Promise<RawAnswer> {
  const body = options.body ?? '';
  const len = body.length > 0 ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : '';
  return rawHttp(port, [`${head.replace(/\n/g, '\r\n')}\r\nConnection: close\r\n${len}\r\n`, body], {
    localAddress: options.localAddress,
    mustClose: true,
  });
}

describe('admin plane: browsers, sessions and hostile headers (issue 10 points 4, 5)', () => {
  let h: TestFulcrum;
  let f: TestFulcrum['fulcrum'];
  let port: number;
  let host: string;
  const serveConsole = existsSync(path.join(CONSOLE_DIR, 'index.html'));

  before(async () => {
    h = await startTestFulcrum({ adminToken: ADMIN, console: serveConsole, authFailuresPerMinute: 5 });
    f = h.fulcrum;
    port = h.port;
    host = `127.0.0.1:${port}`;
  });
  after(() => h.close());

  it('sends security headers on API answers and on the console', async () => {
    const targets = ['/api/v1/load-balancers', '/openapi.json', ...(serveConsole ? ['/', '/load-balancers/x'] : [])];
    for (const t of targets) {
      const r = await raw(port, `GET ${t} HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}`);
      assert.equal(r.status, 200, t);
      const csp = r.headers['content-security-policy'] ?? '';
      assert.match(csp, /frame-ancestors 'none'/, `${t}: ${csp}`);
      assert.match(csp, /default-src 'self'/, t);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', t);
      assert.equal(r.headers['referrer-policy'], 'no-referrer', t);
      assert.equal(r.headers['strict-transport-security'], undefined, `${t}: no HSTS over plain HTTP`);
    }
    const unauth = await raw(port, `GET /api/v1/tokens HTTP/1.1\nHost: ${host}`);
    assert.equal(unauth.status, 401);
    assert.match(unauth.headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
  });

  it('answers that carry a secret are never cached', async () => {
    const tok = await raw(
      port,
      `POST /api/v1/tokens HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}\nContent-Type: application/json`,
      { body: JSON.stringify({ name: 'ci', role: 'viewer' }) },
    );
    assert.equal(tok.status, 201);
    assert.equal(tok.headers['cache-control'], 'no-store');
    const signIn = await raw(port, `POST /api/v1/session HTTP/1.1\nHost: ${host}\nContent-Type: application/json`, {
      body: JSON.stringify({ token: ADMIN }),
    });
    assert.equal(signIn.status, 200);
    assert.equal(signIn.headers['cache-control'], 'no-store');
  });

  it('hostile cookies and headers answer 400 or 401, never 500, and change nothing', async () => {
    const before = f.control.version;
    const cases: [string, number[]][] = [
      ['Cookie: fulcrum_session=%', [401]],
      ['Cookie: fulcrum_session=%E0%A4%A', [401]],
      ['Cookie: fulcrum_session=%00%0d%0a', [401]],
      ['Cookie: =;;;=;fulcrum_session', [401]],
      ['Cookie: fulcrum_session="unterminated', [401]],
      ['Cookie: fulcrum_session=a; fulcrum_session=b', [401]],
      [`Cookie: fulcrum_session=${'x'.repeat(4000)}`, [401]],
      ['Cookie: \u00ff\u00fe=\u00fd', [401]],
      ['Authorization: Bearer', [401]],
      ['Authorization: Bearer ', [401]],
      ['Authorization: Basic YWRtaW46YWRtaW4=', [401]],
      ['Authorization: Bearer a b', [401]],
      [`Authorization: Bearer ${'A'.repeat(6000)}`, [401]],
      ['Authorization: Bearer \u00e9\u00e9\u00e9', [401]],
      ['Authorization: bearer\ttab', [401]],
      ['Authorization: %', [401]],
    ];
    for (const [i, [header, statuses]] of cases.entries()) {
      // Each from its own loopback address, so the failure limit stays out of this test.
      const r = await raw(port, `GET /api/v1/load-balancers HTTP/1.1\nHost: ${host}\n${header}`, {
        localAddress: `127.0.1.${i + 1}`,
      });
      assert.ok(statuses.includes(r.status), `${header.slice(0, 60)} → ${r.status} ${r.body.slice(0, 100)}`);
      assert.doesNotMatch(r.body, /stack|at \//);
    }
    const bodies: [string, string, number][] = [
      ['application/json', '{', 400],
      ['application/json', '{"name":"x","__proto__":{"admin":true}}', 400],
      ['text/plain', 'name=x', 400],
      ['application/xml', '<x/>', 415],
      ['application/json', '"just a string"', 400],
      ['application/json', `{"name":"${'n'.repeat(100)}"}`, 400],
    ];
    for (const [type, body, status] of bodies) {
      const r = await raw(
        port,
        `POST /api/v1/load-balancers HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}\nContent-Type: ${type}`,
        { body },
      );
      assert.equal(r.status, status, `${type} ${body.slice(0, 40)} → ${r.status} ${r.body}`);
      assert.equal(JSON.parse(r.body).error.code === undefined, false);
    }
    const ev = await raw(
      port,
      `GET /api/v1/events HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}\nLast-Event-ID: %%%`,
    );
    assert.equal(ev.status, 200);
    assert.equal(f.control.version, before, 'nothing changed');
  });

  it('requests addressed to another host name are refused (DNS rebinding), loopback names are fine', async () => {
    for (const h of ['evil.example', `evil.example:${port}`, 'rebind.attacker.test:80', '10.0.0.1', '[fe80::1]']) {
      const r = await raw(port, `GET /api/v1/load-balancers HTTP/1.1\nHost: ${h}\nAuthorization: Bearer ${ADMIN}`);
      assert.equal(r.status, 403, h);
      assert.equal(JSON.parse(r.body).error.field, 'host');
    }
    for (const h of [host, `localhost:${port}`, 'app.localhost', '127.0.0.2', `[::1]:${port}`]) {
      const r = await raw(port, `GET /api/v1/load-balancers HTTP/1.1\nHost: ${h}\nAuthorization: Bearer ${ADMIN}`);
      assert.equal(r.status, 200, h);
    }
  });

  it('a change riding on the session cookie needs the console origin; sign-in from another origin is refused', async () => {
    const signIn = await raw(port, `POST /api/v1/session HTTP/1.1\nHost: ${host}\nContent-Type: application/json`, {
      body: JSON.stringify({ token: ADMIN }),
    });
    const cookie = (signIn.headers['set-cookie'] ?? '').split(';')[0]!;
    assert.match(cookie, /^fulcrum_session=/);
    const before = f.control.version;
    for (const origin of ['', 'Origin: http://evil.example', 'Origin: null', `Origin: https://${host}`]) {
      const r = await raw(
        port,
        `POST /api/v1/load-balancers HTTP/1.1\nHost: ${host}\nCookie: ${cookie}\nContent-Type: application/json${origin ? `\n${origin}` : ''}`,
        { body: JSON.stringify({ name: 'csrf' }) },
      );
      assert.equal(r.status, 403, origin);
    }
    assert.equal(f.control.version, before);
    const own = await raw(
      port,
      `POST /api/v1/load-balancers HTTP/1.1\nHost: ${host}\nCookie: ${cookie}\nContent-Type: application/json\nOrigin: http://${host}`,
      { body: JSON.stringify({ name: 'from-console' }) },
    );
    assert.equal(own.status, 201, own.body);
    const read = await raw(port, `GET /api/v1/load-balancers HTTP/1.1\nHost: ${host}\nCookie: ${cookie}`);
    assert.equal(read.status, 200, 'reads need no Origin');
    const foreignSignIn = await raw(
      port,
      `POST /api/v1/session HTTP/1.1\nHost: ${host}\nContent-Type: application/json\nOrigin: http://evil.example`,
      { body: JSON.stringify({ token: ADMIN }) },
    );
    assert.equal(foreignSignIn.status, 403);
    assert.equal(foreignSignIn.headers['set-cookie'], undefined);
  });

  it('limits failed authentications per client address; a missing token does not count', async () => {
    const from = '127.0.0.51';
    const get = (auth: string, localAddress = from) =>
      raw(port, `GET /api/v1/load-balancers HTTP/1.1\nHost: ${host}${auth ? `\nAuthorization: ${auth}` : ''}`, {
        localAddress,
      });
    for (let i = 0; i < 12; i++) assert.equal((await get('')).status, 401, 'no token: plain 401');
    for (let i = 0; i < 5; i++) assert.equal((await get(`Bearer wrong-${i}-0123456789abcdef`)).status, 401);
    const limited = await get('Bearer wrong-6-0123456789abcdef');
    assert.equal(limited.status, 429);
    const retry = Number(limited.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    assert.equal(JSON.parse(limited.body).error.code, 'rate_limited');
    assert.equal((await get(`Bearer ${ADMIN}`)).status, 429, 'even the right token waits: no oracle');
    assert.equal((await get(`Bearer ${ADMIN}`, '127.0.0.52')).status, 200, 'another client is not affected');
    // Sign-in failures count the same way.
    const signIn = (token: string) =>
      raw(port, `POST /api/v1/session HTTP/1.1\nHost: ${host}\nContent-Type: application/json`, {
        localAddress: '127.0.0.53',
        body: JSON.stringify({ token }),
      });
    for (let i = 0; i < 5; i++) assert.equal((await signIn(`guess-${i}`)).status, 401);
    const sixth = await signIn('guess-6');
    assert.equal(sixth.status, 429);
    assert.ok(Number(sixth.headers['retry-after']) >= 1);
  });

  it('audits tokens created and revoked, sign-in and sign-out, never with the secret', async () => {
    const create = await raw(
      port,
      `POST /api/v1/tokens HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}\nContent-Type: application/json`,
      { body: JSON.stringify({ name: 'audited', role: 'operator' }) },
    );
    const tok = JSON.parse(create.body) as { id: string; token: string };
    const signIn = await raw(port, `POST /api/v1/session HTTP/1.1\nHost: ${host}\nContent-Type: application/json`, {
      body: JSON.stringify({ token: tok.token }),
    });
    const cookie = (signIn.headers['set-cookie'] ?? '').split(';')[0]!;
    await raw(port, `DELETE /api/v1/session HTTP/1.1\nHost: ${host}\nCookie: ${cookie}\nOrigin: http://${host}`);
    await raw(port, `DELETE /api/v1/tokens/${tok.id} HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}`);
    const audit = await raw(port, `GET /api/v1/audit?limit=50 HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}`);
    const rows = JSON.parse(audit.body) as { actor: string; action: string; resource: string }[];
    const mine = rows
      .filter((r) => r.resource === `token/${tok.id}` || (r.resource === 'session' && r.actor === 'audited'))
      .map((r) => `${r.actor} ${r.action} ${r.resource.startsWith('token/') ? 'token' : r.resource}`)
      .reverse();
    assert.deepEqual(mine, [
      'admin create token',
      'audited sign-in session',
      'audited sign-out session',
      'admin delete token',
    ]);
    assert.ok(!audit.body.includes(tok.token), 'the secret is not in the audit');
    assert.ok(!audit.body.includes(cookie.split('=')[1]!), 'the session id is not in the audit');
  });

  it('bodies over 1 MiB are refused with 413 and change nothing', async () => {
    const before = f.control.version;
    const big = JSON.stringify({ name: 'big', description: 'x'.repeat(1024 * 1024 + 10) });
    const r = await raw(
      port,
      `POST /api/v1/load-balancers HTTP/1.1\nHost: ${host}\nAuthorization: Bearer ${ADMIN}\nContent-Type: application/json`,
      { body: big },
    );
    assert.equal(r.status, 413);
    assert.equal(f.control.version, before);
  });
});

describe('admin plane: start-up rules (issue 10 point 4)', () => {
  it('refuses an admin token shorter than 16 characters, in-process and from the CLI', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-sec-s-'));
    try {
      await assert.rejects(
        startTestFulcrum({ dataDir: dir, adminToken: 'too-short' }),
        /FULCRUM_ADMIN_TOKEN: must be at least 16 characters/,
      );
      const r = await runServe(['--api', '127.0.0.1:0', '--data-dir', dir, '--no-console'], {
        FULCRUM_ADMIN_TOKEN: 'secret-token',
      });
      assert.notEqual(r.code, 0);
      assert.match(r.output, /FULCRUM_ADMIN_TOKEN: must be at least 16 characters/);
    } finally {
      removeDir(dir);
    }
  });

  it('warns when the API listens beyond loopback over plain HTTP', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-sec-w-'));
    try {
      const r = await runServe(
        ['--api', '0.0.0.0:0', '--data-dir', dir, '--no-console'],
        { FULCRUM_ADMIN_TOKEN: ADMIN },
        /fulcrum started/,
      );
      assert.match(r.output, /the API listens beyond this machine over plain HTTP/);
    } finally {
      removeDir(dir);
    }
  });

  it('serves the API over HTTPS with --api-cert/--api-key', async (t) => {
    const pki = new TestPki();
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-sec-h-'));
    let h: TestFulcrum | undefined;
    t.after(async () => {
      await h?.close();
      removeDir(dir);
      removeDir(pki.dir);
    });
    const ca = pki.ca('API test CA');
    const leaf = pki.leaf(ca, { cn: 'localhost', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
    const cert = path.join(dir, 'api.crt');
    const key = path.join(dir, 'api.key');
    writeFileSync(cert, leaf.certPem);
    writeFileSync(key, leaf.keyPem);
    h = await startTestFulcrum({ dataDir: path.join(dir, 'data'), adminToken: ADMIN, apiCert: cert, apiKey: key });
    const f = h.fulcrum;
    assert.match(f.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await new Promise<{ status: number; hsts: string | undefined; body: string }>((resolve, reject) => {
      const req = https.get(
        `${f.apiUrl}/api/v1/load-balancers`,
        { ca: ca.certPem, headers: { authorization: `Bearer ${ADMIN}` } },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'], body }),
          );
        },
      );
      req.on('error', reject);
    });
    assert.equal(r.status, 200, r.body);
    assert.ok(r.hsts, 'HSTS over HTTPS');
    const plain = await raw(Number(new URL(f.apiUrl).port), 'GET /api/v1/load-balancers HTTP/1.1\nHost: 127.0.0.1');
    assert.notEqual(plain.status, 200, 'plain HTTP gets no API answer');
    await assert.rejects(
      startTestFulcrum({ dataDir: path.join(dir, 'd2'), adminToken: ADMIN, apiCert: cert }),
      /--api-cert and --api-key: give both/,
    );
  });
});

/** Runs `fulcrum serve ARGS` as a child; resolves on exit, or when `until` appears (then stops it). */
function runServe(
  args: string[],
  env: Record<string, string>,
  until?: RegExp,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'src/cli/main.ts'), 'serve', ...args], {
      env: { ...process.env, ...env, FULCRUM_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not finish: ${output}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (until?.test(output)) child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
