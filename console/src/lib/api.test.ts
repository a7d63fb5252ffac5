import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Api, ApiError, normaliseField, query, splitChange, toApiError, unwrapList } from './api.ts';

describe('api error and answer shapes', () => {
  it('reads API.md errors and names the field', () => {
    const e = toApiError(400, { error: { code: 'invalid', message: 'port must be 1–65535', field: 'port' } });
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'invalid');
    assert.equal(e.message, 'port must be 1–65535');
    assert.equal(e.field, 'port');
  });
  it('reads Fastify errors, text and empty bodies', () => {
    const f = toApiError(400, { statusCode: 400, code: 'FST_ERR_VALIDATION', message: 'body/port must be <= 65535' });
    assert.equal(f.code, 'FST_ERR_VALIDATION');
    assert.equal(f.field, null);
    assert.equal(toApiError(502, 'Bad gateway').message, 'Bad gateway');
    assert.match(toApiError(401, undefined).message, /signed in/);
    assert.equal(toApiError(500, undefined).code, 'http_500');
  });
  it('normalises JSON-schema field paths', () => {
    assert.equal(normaliseField('/port'), 'port');
    assert.equal(normaliseField('/healthCheck/intervalSeconds'), 'healthCheck.intervalSeconds');
    assert.equal(normaliseField('body.healthCheck.port'), 'healthCheck.port');
    assert.equal(normaliseField('rules[0]'), 'rules.0');
  });
  it('splits a change answer into resource and configVersion', () => {
    assert.deepEqual(splitChange({ id: 's1', weight: 5, configVersion: 7 }), {
      resource: { id: 's1', weight: 5 },
      configVersion: 7,
    });
    assert.deepEqual(splitChange({ server: { id: 's1' }, configVersion: 8 }), {
      resource: { id: 's1' },
      configVersion: 8,
    });
    assert.deepEqual(splitChange(undefined), { resource: undefined, configVersion: null });
  });
  it('unwraps lists', () => {
    assert.deepEqual(unwrapList([1, 2]), [1, 2]);
    assert.deepEqual(unwrapList({ items: [3] }), [3]);
    assert.deepEqual(unwrapList({ total: 0 }), []);
  });
  it('builds query strings without empty values', () => {
    assert.equal(query({ address: '10.0.0.1', id: '', x: undefined }), '?address=10.0.0.1');
    assert.equal(query({}), '');
    assert.equal(query({ q: 'a b&c' }), '?q=a%20b%26c');
  });
});

describe('Api against a real local HTTP server', () => {
  let base = '';
  const seen: { method: string; url: string; body: string; cookie: string | undefined }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, cookie: req.headers.cookie });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/v1/session' && req.method === 'POST') {
        const ok = JSON.parse(body).token === 'good';
        res.statusCode = ok ? 204 : 401;
        res.end(ok ? '' : JSON.stringify({ error: { code: 'unauthorized', message: 'wrong token', field: 'token' } }));
        return;
      }
      if (req.url === '/api/v1/backends/b1/servers' && req.method === 'POST') {
        const p = JSON.parse(body);
        if (p.port > 65535) {
          res.statusCode = 400;
          res.end(
            JSON.stringify({ error: { code: 'invalid', message: 'port must be between 1 and 65535', field: 'port' } }),
          );
          return;
        }
        res.statusCode = 201;
        res.end(JSON.stringify({ id: 's1', ...p, configVersion: 3 }));
        return;
      }
      if (req.url === '/api/v1/load-balancers') {
        res.statusCode = 401;
        res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'missing token' } }));
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such thing' } }));
    });
  });
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('signs in with the token in the body only, and reports a wrong token', async () => {
    const api = new Api(base);
    await api.signIn('good');
    const last = seen[seen.length - 1]!;
    assert.equal(last.method, 'POST');
    assert.deepEqual(JSON.parse(last.body), { token: 'good' });
    await assert.rejects(
      api.signIn('bad'),
      (e: unknown) => e instanceof ApiError && e.status === 401 && e.field === 'token',
    );
  });

  it('answers a change with the resource and configVersion; a refused change with the field', async () => {
    const api = new Api(base);
    const r = await api.change<{ id: string; port: number }>('POST', '/backends/b1/servers', { name: 'a', port: 8080 });
    assert.equal(r.resource.id, 's1');
    assert.equal(r.resource.port, 8080);
    assert.equal(r.configVersion, 3);
    await assert.rejects(
      api.change('POST', '/backends/b1/servers', { name: 'a', port: 70000 }),
      (e: unknown) => e instanceof ApiError && e.field === 'port' && /65535/.test(e.message),
    );
  });

  it('calls onUnauthorized on a 401 outside /session', async () => {
    const api = new Api(base);
    let called = 0;
    api.onUnauthorized = () => called++;
    await assert.rejects(api.list('/load-balancers'), ApiError);
    assert.equal(called, 1);
    await assert.rejects(api.signIn('bad'));
    assert.equal(called, 1, 'a wrong token at sign-in is not a lost session');
    await assert.rejects(api.get('/nope'), (e: unknown) => e instanceof ApiError && e.status === 404);
  });
});
