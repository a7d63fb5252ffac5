import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../src/config/validate.ts';
import { FulcrumError } from '../src/core/errors.ts';
import { type Json, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { backend, baseConfig } from './helpers/plane.ts';

/**
 * Issue 10, "nothing an operator types can stall the process": an http health check's
 * `expectBody` regular expression runs on a linear-time engine (RE2JS), so a pattern with
 * catastrophic backtracking cannot freeze the event loop, and patterns that need backtracking
 * (backreferences, lookaround) are refused when the backend is written.
 *
 * Why this test fails with V8's RegExp: `/^(a+)+$/` against 44 × "a" then "!" makes the
 * backtracking engine try every way of splitting the a's between the inner and outer `+`
 * before it gives up — about 2^44 ≈ 1.8·10^13 steps, hours of one core. The probe runs on the
 * event loop, so the ticker below would stop (the delay assertion fails) and the probe would
 * never report (the wait for `lastCheck` times out). RE2 answers in microseconds.
 */

const BODY = `${'a'.repeat(44)}!`;

describe('health check expectBody on a linear-time engine (issue 10)', () => {
  let f: TestFulcrum;
  let lb: string;
  let srv: Server;
  let port: number;
  before(async () => {
    srv = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(BODY));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    port = (srv.address() as AddressInfo).port;
    f = await startTestFulcrum();
    lb = (await f.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] })).id;
  });
  after(async () => {
    await f.close();
    await new Promise((r) => srv.close(r));
  });

  const backendWith = async (name: string, expectBody: string): Promise<string> => {
    const be = await f.ok('POST', '/backends', {
      loadBalancerId: lb,
      name,
      mode: 'http',
      healthCheck: {
        type: 'http',
        intervalSeconds: 1,
        timeoutSeconds: 1,
        rise: 1,
        fall: 1,
        http: { path: '/health', expectBody },
      },
    });
    return be.id;
  };
  /** Polls the server until it has a check result; answers it and the slowest API answer (ms). */
  const firstCheck = async (backendId: string, serverId: string) => {
    let slowestApiMs = 0;
    let lastCheck: Json;
    await waitFor(
      async () => {
        const t0 = performance.now();
        const s = await f.ok('GET', `/backends/${backendId}/servers/${serverId}`);
        slowestApiMs = Math.max(slowestApiMs, performance.now() - t0);
        lastCheck = s.status.lastCheck;
        return Boolean(lastCheck);
      },
      15_000,
      'a health check result: the probe never finished',
    );
    return { lastCheck, slowestApiMs };
  };

  it('a catastrophic pattern against a real backend leaves the event loop free', async () => {
    const beId = await backendWith('redos', '/^(a+)+$/');
    // The ticker measures the longest gap between two 20 ms ticks while probes run.
    let last = performance.now();
    let worstGapMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGapMs = Math.max(worstGapMs, now - last);
      last = now;
    }, 20);
    try {
      const sv = await f.ok('POST', `/backends/${beId}/servers`, { name: 'a', address: '127.0.0.1', port });
      const first = await firstCheck(beId, sv.id);
      assert.equal(first.lastCheck.ok, false, 'the body does not match: 44 a then !');
      assert.equal(first.lastCheck.reason, 'body-mismatch');
      // Let two more probes (interval 1 s) run while the ticker keeps measuring.
      const seen = new Set<string>([first.lastCheck.at]);
      let s: Json;
      await waitFor(
        async () => {
          s = await f.ok('GET', `/backends/${beId}/servers/${sv.id}`);
          seen.add(s.status.lastCheck.at);
          return seen.size >= 3;
        },
        10_000,
        'two more probes',
      );
      assert.equal(s.status.health, 'unhealthy');
      // Generous bounds: a backtracking engine takes hours on this input, RE2 microseconds.
      assert.ok(worstGapMs < 1000, `event loop stalled for ${Math.round(worstGapMs)} ms`);
      assert.ok(first.slowestApiMs < 1000, `the API took ${Math.round(first.slowestApiMs)} ms`);
    } finally {
      clearInterval(ticker);
    }
  });

  it('a pattern that matches still makes the server healthy', async () => {
    const beId = await backendWith('match', '/^a+!$/');
    const sv = await f.ok('POST', `/backends/${beId}/servers`, { name: 'a', address: '127.0.0.1', port });
    const { lastCheck } = await firstCheck(beId, sv.id);
    assert.equal(lastCheck.ok, true, JSON.stringify(lastCheck));
  });

  it('backreferences, lookaround and long patterns are refused with 400 naming the field and the rule', async () => {
    const before = await f.ok('GET', '/backends');
    const cases: [string, RegExp][] = [
      ['/(a)\\1/', /no backreferences/],
      ['/(?<n>a)\\k<n>/', /no backreferences/],
      ['/a(?=b)/', /no lookahead or lookbehind/],
      ['/a(?!b)/', /no lookahead or lookbehind/],
      ['/(?<=a)b/', /no lookahead or lookbehind/],
      ['/a/y', /flags may be i, m and s/],
      [`/${'a'.repeat(1023)}/`, /1024/],
    ];
    for (const [expectBody, rule] of cases) {
      const r = await f.api('POST', '/backends', {
        loadBalancerId: lb,
        name: 'bad',
        mode: 'http',
        healthCheck: { type: 'http', http: { path: '/', expectBody } },
      });
      assert.equal(r.status, 400, `${expectBody}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.field, 'healthCheck.http.expectBody', expectBody);
      assert.match(r.body.error.message, rule, expectBody);
    }
    // PATCH is checked the same way.
    const id = await backendWith('patched', 'ok');
    const r = await f.api('PATCH', `/backends/${id}`, { healthCheck: { http: { expectBody: '/(a)\\1/' } } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'healthCheck.http.expectBody');
    assert.equal((await f.ok('GET', `/backends/${id}`)).healthCheck.http.expectBody, 'ok');
    assert.equal((await f.ok('GET', '/backends')).length, before.length + 1, 'nothing else was created');
  });
});

describe('expectBody regexes as a write rule (issue 10)', () => {
  const withPattern = (expectBody: string, name = 'web') => {
    const c = baseConfig();
    const b = backend('be1', 'http', { name });
    b.healthCheck = {
      ...b.healthCheck,
      type: 'http',
      http: { method: 'GET', path: '/', expectedCodes: '200', expectBody },
    };
    c.backends.push(b);
    return c;
  };
  const refusal = (err: unknown) =>
    err instanceof FulcrumError && err.code === 'invalid' && err.field === 'healthCheck.http.expectBody';

  it('a stored pattern that predates the rule does not block unrelated changes; writing one is refused', () => {
    const stored = withPattern('/(a)\\1/');
    assert.throws(() => validateConfig(stored), refusal, 'a whole configuration is checked');
    // An unrelated change (the backend renamed) keeps the stored pattern as it is.
    validateConfig(withPattern('/(a)\\1/', 'renamed'), { before: stored });
    // Changing the pattern to another one the engine refuses is a new violation.
    assert.throws(() => validateConfig(withPattern('/a(?=b)/'), { before: stored }), refusal);
    // Fixing it is accepted.
    validateConfig(withPattern('/^a+!$/'), { before: stored });
  });
});
