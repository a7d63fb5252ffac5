import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers/http-client.ts';
import { startBackend, startProxy, startRawBackend } from './helpers/http-fixtures.ts';
import { backend, baseConfig, freePort, frontend, server } from './helpers/plane.ts';

describe('upgrade (WebSocket-style tunnel)', () => {
  test('101 then raw bytes flow both ways; a non-upgrade request before it still works', async () => {
    const srv = await startRawBackend((s) => {
      let head = '';
      let tunnel = false;
      s.on('data', (d) => {
        if (tunnel) {
          s.write(Buffer.concat([Buffer.from('echo:'), d]));
          return;
        }
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        if (/\r\nUpgrade: websocket\r\n/i.test(head) && /\r\nConnection: Upgrade\r\n/i.test(head)) {
          tunnel = true;
          s.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\nhello-from-server',
          );
        } else {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno');
          head = '';
        }
      });
    });
    const p = await startProxy([srv.port]);
    try {
      const c = net.connect(p.port, '127.0.0.1');
      let text = '';
      c.on('data', (d) => (text += d.toString('latin1')));
      c.write('GET /plain HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => text.endsWith('no'));
      c.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n',
      );
      await waitFor(() => text.includes('hello-from-server'));
      assert.match(text, /HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.match(text, /Upgrade: websocket\r\n/);
      c.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
      await waitFor(() => text.includes('echo:\u0081\u0002hi'));
      c.write('more');
      await waitFor(() => text.endsWith('echo:more'));
      assert.equal(p.runtime.servers.get('s0')?.activeConnections, 1, 'the tunnel counts as an open exchange');
      c.end();
      await waitFor(() => p.runtime.servers.get('s0')?.activeConnections === 0);
    } finally {
      await p.close();
      await srv.close();
    }
  });
});

/** Yields `total` bytes of deterministic data in 64 KiB chunks, feeding `hash`. */
function* generate(total: number, hash: ReturnType<typeof createHash>): Generator<Buffer> {
  const block = Buffer.alloc(64 * 1024);
  let sent = 0;
  let seed = 1;
  while (sent < total) {
    for (let i = 0; i < block.length; i += 4) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      block.writeUInt32LE(seed, i);
    }
    const n = Math.min(block.length, total - sent);
    const chunk = Buffer.from(block.subarray(0, n));
    hash.update(chunk);
    sent += n;
    yield chunk;
  }
}

/** Writes the generator to `w` with backpressure. */
async function pump(gen: Generator<Buffer>, w: NodeJS.WritableStream): Promise<void> {
  for (const chunk of gen) {
    if (!w.write(chunk)) await new Promise((r) => w.once('drain', r));
  }
}

describe('large bodies stream through with flat memory', () => {
  const SIZE = 100 * 1024 * 1024;

  test('100 MiB request body (chunked) and 100 MiB response body (Content-Length), sha256 intact, proxy RSS flat', async () => {
    let serverHash = '';
    const resHash = createHash('sha256');
    const b = await startBackend((req, res) => {
      const h = createHash('sha256');
      req.on('data', (d) => h.update(d));
      req.on('end', () => {
        serverHash = h.digest('hex');
        if (req.url === '/download') {
          res.setHeader('Content-Length', SIZE);
          pump(generate(SIZE, resHash), res).then(() => res.end());
        } else res.end(serverHash);
      });
    });
    // the proxy runs alone in a child process so its RSS is measured without the test's client and server
    const port = await freePort();
    const config = baseConfig();
    config.backends.push(backend('be', 'http'));
    config.servers.push(server('s0', 'be', b.port));
    config.frontends.push(frontend('fe', 'http', port, 'be'));
    config.version = 1;
    const child = fork(fileURLToPath(new URL('./helpers/plane-child.ts', import.meta.url)), [JSON.stringify(config)], {
      execPath: process.execPath,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise((r) => child.once('message', r));
    let rss0 = 0;
    let peakRss = 0;
    child.on('message', (m: { rss?: number }) => {
      if (m.rss === undefined) return;
      if (rss0 === 0) rss0 = m.rss;
      peakRss = Math.max(peakRss, m.rss);
    });
    child.send('rss');
    const sampler = setInterval(() => child.send('rss'), 20);
    const p = { port };
    try {
      // upload (the test process holds client, proxy and server: RSS covers all three)
      const upHash = createHash('sha256');
      const answer = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: p.port, method: 'POST', path: '/upload', agent: false },
          (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve(body));
          },
        );
        req.on('error', reject);
        pump(generate(SIZE, upHash), req).then(() => req.end(), reject);
      });
      assert.equal(answer, upHash.digest('hex'));
      assert.equal(serverHash, answer);
      // download
      const got = await new Promise<{ hash: string; bytes: number }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: p.port, path: '/download', agent: false }, (res) => {
            const h = createHash('sha256');
            let bytes = 0;
            res.on('data', (d: Buffer) => {
              bytes += d.length;
              h.update(d);
            });
            res.on('end', () => resolve({ hash: h.digest('hex'), bytes }));
          })
          .on('error', reject);
      });
      assert.equal(got.bytes, SIZE);
      assert.equal(got.hash, resHash.digest('hex'));
      await new Promise((r) => setTimeout(r, 50));
      const growth = peakRss - rss0;
      if (process.env.HTTP_TEST_VERBOSE) console.log(`rss growth ${(growth / 1048576).toFixed(1)} MiB`);
      // Node allocates a fresh Buffer per socket read; the garbage alone lifts RSS by ~40–60 MiB before
      // the collector catches up (a plain TCP pipe shows the same). Buffering a whole body would add ≥ 100 MiB.
      assert.ok(rss0 > 0 && growth < 80 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
    } finally {
      clearInterval(sampler);
      child.send('exit');
      await new Promise((r) => child.once('exit', r));
      await b.close();
    }
  });
});
