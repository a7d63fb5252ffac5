import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildApi, routeTable } from '../src/api/app.ts';
import { CONSOLE_DIR } from '../src/main.ts';
import { startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { type RawAnswer, rawHttp } from './helpers/http-client.ts';

/**
 * Issue 10 point 1: authentication is decided after routing, on every route, deny by
 * default. The routes come from Fastify's own route table (every route the app registered,
 * plugins' included), never from a hand-written list; every path is also sent in encoded,
 * doubled-slash, dot-segment, trailing-slash and case variants as raw bytes (no client
 * normalises them), and none of them gets an API answer without a token.
 */

const ADMIN = 'security-routes-admin-token-0123456789';

/** One request as raw bytes on a new connection (`Connection: close`); parses the answer. */
function raw(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  options: { localAddress?: string; body?: string } = {},
): Promise<RawAnswer> {
  const write = method !== 'GET' && method !== 'HEAD' && method !== 'DELETE';
  const body = options.body ?? (write ? '{}' : '');
  const lines = [
    `${method} ${target} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ...(body ? ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`] : []),
  ];
  return rawHttp(port, `${lines.join('\r\n')}\r\n\r\n${body}`, {
    localAddress: options.localAddress,
    mustClose: true,
  });
}

/** A concrete path for a route pattern: `:id` → an id that exists nowhere, `*` → a file name. */
function concrete(url: string): string {
  return url.replace(/:[A-Za-z]+/g, 'zz9').replace(/\*$/, 'some/page');
}

/** The spellings of one path that a router could read as another: each one a raw request target. */
function variants(p: string, port: number): string[] {
  const out = new Set<string>();
  const enc = (c: string, upper: boolean) => {
    const h = c.charCodeAt(0).toString(16);
    return `%${upper ? h.toUpperCase() : h}`;
  };
  // Percent-encode the first letter of every segment (lower- and upper-case hex).
  for (let i = 1; i < p.length; i++) {
    if (p[i - 1] === '/' && /[A-Za-z]/.test(p[i]!)) {
      out.add(p.slice(0, i) + enc(p[i]!, false) + p.slice(i + 1));
      out.add(p.slice(0, i) + enc(p[i]!, true) + p.slice(i + 1));
    }
  }
  const segs = p.split('/').slice(1);
  const join = (s: string[]) => `/${s.join('/')}`;
  out.add(`/${p}`); // leading doubled slash
  for (let i = 1; i < segs.length; i++) {
    out.add(join([...segs.slice(0, i), '', ...segs.slice(i)])); // doubled slash inside
    out.add(join([...segs.slice(0, i), '.', ...segs.slice(i)])); // dot segment
    out.add(join([...segs.slice(0, i), '%2e', ...segs.slice(i)])); // encoded dot segment
    out.add(join([...segs.slice(0, i), 'x', '..', ...segs.slice(i)])); // dot-dot segment
    out.add(join([...segs.slice(0, i), 'x', '%2E%2E', ...segs.slice(i)])); // encoded dot-dot
    out.add(`${join(segs.slice(0, i))}%2F${segs.slice(i).join('/')}`); // encoded slash
    out.add(`${join(segs.slice(0, i))}\\${segs.slice(i).join('/')}`); // backslash
  }
  out.add(`${p}/`); // trailing slash
  out.add(`${p}//`);
  out.add(`${p}/.`);
  out.add(`${p}%2F`);
  out.add(`${p};x=1`);
  out.add(`${p}%00`);
  out.add(p.toUpperCase());
  out.add(p.replace(/^\/[a-z]/, (m) => m.toUpperCase()));
  if (p.startsWith('/api/v1/')) out.add(p.replace('/api/v1/', '/api/V1/'));
  out.add(`http://127.0.0.1:${port}${p}`); // absolute form (RFC 9112 §3.2.2)
  out.delete(p);
  return [...out];
}

describe('admin plane: deny by default on every route (issue 10 point 1)', () => {
  let h: TestFulcrum;
  let f: TestFulcrum['fulcrum'];
  let dir: string;
  let port: number;
  let consoleIndex: string | undefined;
  let viewer: string;
  let operator: string;
  const serveConsole = existsSync(path.join(CONSOLE_DIR, 'index.html'));

  before(async () => {
    h = await startTestFulcrum({
      adminToken: ADMIN,
      console: serveConsole,
      // Hundreds of wrong tokens on purpose here; the limit has its own test.
      authFailuresPerMinute: 1_000_000,
    });
    f = h.fulcrum;
    dir = h.dataDir;
    port = h.port;
    if (serveConsole) consoleIndex = readFileSync(path.join(CONSOLE_DIR, 'index.html'), 'utf8');
    const mint = async (name: string, role: string) => {
      const r = await raw(
        port,
        'POST',
        '/api/v1/tokens',
        { authorization: `Bearer ${ADMIN}` },
        {
          body: JSON.stringify({ name, role }),
        },
      );
      assert.equal(r.status, 201, r.body);
      return JSON.parse(r.body).token as string;
    };
    viewer = await mint('grafana', 'viewer');
    operator = await mint('deploy', 'operator');
  });
  after(() => h.close());

  /** True when an answer is not the API's: 401, 404, or the console's page for unknown paths. */
  function notAnApiAnswer(r: RawAnswer): boolean {
    if (r.status === 401 || r.status === 404) return true;
    return (
      consoleIndex !== undefined &&
      r.status === 200 &&
      (r.headers['content-type'] ?? '').startsWith('text/html') &&
      r.body === consoleIndex
    );
  }

  it('every route declares a role or public, and the public ones are exactly the expected few', () => {
    const table = routeTable(f.app);
    assert.ok(table.length >= 40, `the route table lists ${table.length} routes`);
    const pub = table
      .filter((r) => r.access === 'public')
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    const expected = [
      'DELETE /api/v1/session',
      'GET /openapi.json',
      'HEAD /openapi.json',
      'POST /api/v1/session',
      ...(serveConsole ? ['GET /*', 'HEAD /*'] : []),
    ].sort();
    assert.deepEqual(pub, expected);
  });

  it('no token → 401, a wrong token → 401, on every route × method of the table', async () => {
    let n = 0;
    for (const r of routeTable(f.app)) {
      if (r.access === 'public') continue;
      const target = concrete(r.url);
      for (const headers of [{}, { authorization: 'Bearer ftk_wrong-token-0123456789' }] as Record<string, string>[]) {
        const a = await raw(port, r.method, target, headers);
        assert.equal(a.status, 401, `${r.method} ${target} ${JSON.stringify(headers)} → ${a.status} ${a.body}`);
        if (r.method !== 'HEAD') assert.equal(JSON.parse(a.body).error.code, 'unauthorized');
        n++;
      }
    }
    assert.ok(n >= 80, `${n} requests`);
  });

  it('a viewer gets 403 on every write; an operator gets 403 on every admin route', async () => {
    let writes = 0;
    for (const r of routeTable(f.app)) {
      if (r.access === 'public') continue;
      const target = concrete(r.url);
      if (r.access !== 'viewer') {
        const a = await raw(port, r.method, target, { authorization: `Bearer ${viewer}` });
        assert.equal(a.status, 403, `viewer ${r.method} ${target} → ${a.status} ${a.body}`);
        writes++;
      }
      if (r.access === 'admin') {
        const a = await raw(port, r.method, target, { authorization: `Bearer ${operator}` });
        assert.equal(a.status, 403, `operator ${r.method} ${target} → ${a.status} ${a.body}`);
      }
      if (r.access === 'viewer' && r.method === 'GET' && !r.url.includes('stream')) {
        const a = await raw(port, r.method, target, { authorization: `Bearer ${viewer}` });
        // Allowed: the route answers (200, or 400/404 for what it needs), never 401/403 or 5xx.
        assert.ok(
          a.status < 500 && a.status !== 401 && a.status !== 403,
          `viewer ${r.method} ${target} → ${a.status} ${a.body}`,
        );
      }
    }
    assert.ok(writes >= 20, `${writes} write routes`);
  });

  it('encoded, doubled-slash, dot-segment, trailing-slash and case variants never get an API answer without a token', async (t) => {
    let n = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    for (const r of routeTable(f.app)) {
      if (r.access === 'public') continue;
      for (const target of variants(concrete(r.url), port)) {
        const key = `${r.method} ${target}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const a = await raw(port, r.method, target);
        n++;
        if (!notAnApiAnswer(a)) failures.push(`${key} → ${a.status} ${a.body.slice(0, 120)}`);
        // With a viewer token, a write in any spelling is refused or unknown, never done.
        if (r.access !== 'viewer') {
          const v = await raw(port, r.method, target, { authorization: `Bearer ${viewer}` });
          n++;
          if (!(v.status === 403 || notAnApiAnswer(v)))
            failures.push(`viewer ${key} → ${v.status} ${v.body.slice(0, 120)}`);
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(n >= 1000, `${n} hostile requests`);
    t.diagnostic(`${n} hostile requests, ${seen.size} spellings × methods`);
    // Nothing changed: no resource, no token beyond the two minted, no change in the audit.
    const lbs = await raw(port, 'GET', '/api/v1/load-balancers', { authorization: `Bearer ${ADMIN}` });
    assert.deepEqual(JSON.parse(lbs.body), []);
    const tokens = await raw(port, 'GET', '/api/v1/tokens', { authorization: `Bearer ${ADMIN}` });
    assert.deepEqual(
      JSON.parse(tokens.body)
        .map((t: { name: string }) => t.name)
        .sort(),
      ['deploy', 'grafana'],
    );
    assert.equal(f.control.version, 0);
  });

  it('/metrics in every spelling needs a token too', async () => {
    for (const target of ['/metrics', ...variants('/metrics', port)]) {
      const a = await raw(port, 'GET', target);
      assert.ok(notAnApiAnswer(a), `${target} → ${a.status}`);
      assert.ok(!a.body.includes('fulcrum_'), `${target} leaked metrics`);
    }
  });

  it('a route that declares no role stops the start (a programming error, not a silent public route)', async () => {
    await assert.rejects(
      buildApi({
        control: f.control,
        dataDir: dir,
        env: { FULCRUM_ADMIN_TOKEN: ADMIN },
        processMetrics: false,
        extraRoutes: [
          (app) => {
            app.get('/forgotten', async () => 'secret');
          },
        ],
      }),
      /GET \/api\/v1\/forgotten: declare exactly one of config\.role/,
    );
  });
});
