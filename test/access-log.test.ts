import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { namedHttpServer, removeDir, startTestFulcrum } from './helpers/fulcrum.ts';
import { get, waitFor } from './helpers/http-client.ts';
import { addFrontend } from './helpers/persistence-support.ts';
import { addBackend, shopBackend } from './helpers/shop.ts';

// SPEC O2: structured access logs, one JSON line per request or connection.
describe('access log (O2)', () => {
  /** A temp dir for the log file, removed after the test. */
  function logDir(t: { after(fn: () => void): unknown }): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-alog-'));
    t.after(() => removeDir(dir));
    return dir;
  }

  it('writes one JSON line per HTTP request (forwarded and our own answers) and per TCP connection', async (t) => {
    const web = await namedHttpServer('web');
    t.after(() => web.close());
    const file = path.join(logDir(t), 'logs', 'access.jsonl');
    const f = await startTestFulcrum({ accessLog: file, t });
    const api = f.ok;
    const { lbId, beId } = await shopBackend(api, {}, [{ name: 'w1', port: web.port }]);
    const empty = await addBackend(api, lbId, 'empty');
    const raw = await addBackend(api, lbId, 'raw', { mode: 'tcp' }, [{ name: 't1', port: web.port }]);
    const p1 = await addFrontend(api, lbId, 'www', beId);
    const p2 = await addFrontend(api, lbId, 'none', empty.id);
    const p3 = await addFrontend(api, lbId, 'l4', raw.id, 'tcp');

    assert.equal((await get(`http://127.0.0.1:${p1}/shop?x=1`)).body, 'web');
    assert.equal((await get(`http://127.0.0.1:${p2}/`)).status, 503);
    assert.equal((await get(`http://127.0.0.1:${p3}/via-tcp`)).body, 'web');
    await new Promise<void>((resolve) => {
      const c = net.connect(p1, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'));
      c.on('close', () => resolve());
      c.resume();
    });
    http.globalAgent.destroy(); // no kept-alive client connection holds the drain open
    // every connection has ended, so each has written its line; close() then flushes the file
    await waitFor(
      async () =>
        (await f.ok('GET', '/stats')).frontends.every((x: { activeConnections: number }) => !x.activeConnections),
      3000,
      'no open connection on any frontend',
    );
    await f.close();

    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const ok = lines.find((l) => l.frontend === 'www' && l.status === 200);
    assert.ok(ok, JSON.stringify(lines));
    assert.equal(ok.kind, 'http');
    assert.equal(ok.method, 'GET');
    assert.equal(ok.target, '/shop?x=1');
    assert.equal(ok.backend, 'web');
    assert.equal(ok.server, 'w1');
    assert.equal(ok.client, '127.0.0.1');
    assert.ok(ok.bytesOut > 0 && ok.durationMs >= 0);
    assert.ok(!Number.isNaN(Date.parse(ok.at)));
    const none = lines.find((l) => l.frontend === 'none');
    assert.deepEqual([none?.status, none?.backend, none?.server], [503, 'empty', null]);
    const bad = lines.find((l) => l.frontend === 'www' && l.status === 400);
    assert.ok(bad, 'a refused request is logged too');
    assert.equal(bad.method, null);
    assert.ok(bad.bytesOut > 0, 'the 400 answer is counted');
    const tcp = lines.find((l) => l.kind === 'tcp');
    assert.deepEqual([tcp?.frontend, tcp?.backend, tcp?.server], ['l4', 'raw', 't1']);
    assert.ok(tcp.bytesIn > 0 && tcp.bytesOut > 0);
    assert.equal(lines.filter((l) => l.kind === 'http').length, 3, 'one line per request, no duplicates');
  });

  it('refuses a destination it cannot open, naming it', async (t) => {
    // a destination below a regular file (as a data dir's fulcrum.db)
    const dir = logDir(t);
    writeFileSync(path.join(dir, 'fulcrum.db'), '');
    await assert.rejects(
      startTestFulcrum({ accessLog: path.join(dir, 'fulcrum.db', 'a.log'), t }),
      /fulcrum\.db\/a\.log|ENOTDIR|EEXIST/,
    );
  });
});
