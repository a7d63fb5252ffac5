import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { createTcpListener } from '../src/dataplane/tcp/listener.ts';
import { waitFor } from './helpers/http-client.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from './helpers/plane.ts';

/** A TCP server that answers each connection with its name, then echoes what it receives. */
async function namedEcho(name: string): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.write(`${name}\n`);
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** Connects, reads the first line (the server's name), closes. */
function whoAnswers(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let buf = '';
    c.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        c.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    c.on('error', reject);
    c.on('close', () => reject(new Error(`closed before a line; got "${buf}"`)));
  });
}

describe('tcp frontend (F1, A1)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('round-robins connections over the servers and closes at once when none is available', async () => {
    const echoes = await Promise.all(['a', 'b', 'c'].map(namedEcho));
    cleanups.push(async () => {
      for (const e of echoes) await e.close();
    });
    const port = await freePort();
    const cfg = baseConfig();
    cfg.backends.push(backend('be', 'tcp'));
    for (const [i, e] of echoes.entries()) cfg.servers.push(server(`s${i}`, 'be', e.port));
    cfg.frontends.push(frontend('fe', 'tcp', port, 'be'));
    const { plane, apply, runtime } = makePlane({ tcp: createTcpListener });
    cleanups.push(() => plane.close(100));
    await apply(cfg);
    assert.deepEqual(plane.status('fe'), { listening: true, reason: null });
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) seen.push(await whoAnswers(port));
    for (const n of ['a', 'b', 'c']) assert.equal(seen.filter((s) => s === n).length, 3, `${n} in ${seen}`);

    // No server available: every server disabled → the connection closes at once, counted.
    for (const s of cfg.servers) s.enabled = false;
    await apply(cfg);
    await assert.rejects(whoAnswers(port), /closed before a line/);
    assert.ok((runtime.backends.get('be')?.noServer ?? 0) >= 1);
  });

  it('retries another server when the chosen one refuses the connection', async () => {
    const good = await namedEcho('good');
    cleanups.push(good.close);
    const deadPort = await freePort();
    const port = await freePort();
    const cfg = baseConfig();
    cfg.backends.push(backend('be', 'tcp'));
    cfg.servers.push(server('dead', 'be', deadPort), server('good', 'be', good.port));
    cfg.frontends.push(frontend('fe', 'tcp', port, 'be'));
    const { plane, apply } = makePlane({ tcp: createTcpListener });
    cleanups.push(() => plane.close(100));
    await apply(cfg);
    for (let i = 0; i < 4; i++) assert.equal(await whoAnswers(port), 'good');
  });

  it('carries 100 MiB each way intact with half-close, and memory stays flat', async () => {
    // Server: hashes what it receives; after the client half-closes, sends 100 MiB back and ends.
    const size = 100 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
    let serverDigest = '';
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      const h = createHash('sha256');
      s.on('data', (d) => h.update(d));
      s.on('end', () => {
        serverDigest = h.digest('hex');
        let sent = 0;
        const pump = () => {
          while (sent < size) {
            sent += chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
          s.end();
        };
        pump();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => srv.close(() => r())));
    const port = await freePort();
    const cfg = baseConfig();
    cfg.backends.push(backend('be', 'tcp'));
    cfg.servers.push(server('s', 'be', (srv.address() as net.AddressInfo).port));
    cfg.frontends.push(frontend('fe', 'tcp', port, 'be'));
    // The proxy runs in its own process so that its memory is measured alone.
    const child = fork(new URL('./helpers/plane-child.ts', import.meta.url), [JSON.stringify(cfg)], {
      execArgv: [],
      stdio: 'inherit',
    });
    cleanups.push(async () => {
      child.send('exit');
      await once(child, 'exit');
    });
    await once(child, 'message');
    const rss = async (): Promise<number> => {
      child.send('rss');
      const [m] = (await once(child, 'message')) as [{ rss: number }];
      return m.rss;
    };

    const expected = createHash('sha256');
    for (let sent = 0; sent < size; sent += chunk.length) expected.update(chunk);
    const want = expected.digest('hex');

    const rssBefore = await rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(async () => {
      const r = await rss();
      if (process.env.DEBUG_RSS) console.log(received, (r / 1048576).toFixed(1));
      rssPeak = Math.max(rssPeak, r);
    }, 50);
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const got = createHash('sha256');
    let received = 0;
    const done = new Promise<void>((resolve, reject) => {
      c.on('data', (d) => {
        got.update(d);
        received += d.length;
      });
      c.on('end', () => resolve());
      c.on('error', reject);
    });
    let sent = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!c.write(chunk)) return void c.once('drain', pump);
        }
        c.end(); // half-close: the answer must still arrive
        resolve();
      };
      pump();
    });
    await done;
    clearInterval(sampler);
    c.destroy();
    assert.equal(serverDigest, want, 'client → server bytes intact');
    assert.equal(received, size);
    assert.equal(got.digest('hex'), want, 'server → client bytes intact');
    const growthMiB = (rssPeak - rssBefore) / 1024 / 1024;
    // Read buffers become garbage at ~1 GB/s and V8 frees them lazily, so RSS breathes by a few
    // tens of MiB; a proxy that held the body would grow by its whole 100 MiB and more.
    assert.ok(growthMiB < 80, `the proxy's rss grew ${growthMiB.toFixed(1)} MiB while moving 200 MiB`);
  });

  it('drains a removed server: the open connection keeps working, new ones go elsewhere, cut at the deadline', async () => {
    const a = await namedEcho('a');
    const b = await namedEcho('b');
    cleanups.push(a.close, b.close);
    const port = await freePort();
    const cfg = baseConfig();
    cfg.backends.push(backend('be', 'tcp', { drainTimeoutSeconds: 1 }));
    cfg.servers.push(server('a', 'be', a.port));
    cfg.frontends.push(frontend('fe', 'tcp', port, 'be'));
    const { plane, apply, runtime } = makePlane({ tcp: createTcpListener });
    cleanups.push(() => plane.close(100));
    await apply(cfg);
    const c = net.connect(port, '127.0.0.1');
    const lines: string[] = [];
    c.setEncoding('utf8');
    c.on('data', (d: string) => lines.push(d));
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    await waitFor(() => lines.join('') === 'a\n', 3000, 'the greeting of server a');
    cfg.servers = [server('b', 'be', b.port)];
    await apply(cfg);
    assert.equal(runtime.server('a')?.state(Date.now()), 'draining');
    c.write('still here\n');
    await waitFor(() => lines.join('') === 'a\nstill here\n', 3000, 'the draining connection to keep flowing');
    assert.equal(await whoAnswers(port), 'b');
    const t0 = Date.now();
    await closed;
    const waited = Date.now() - t0;
    assert.ok(waited > 500 && waited < 3000, `cut after the 1 s drain timeout (waited ${waited} ms)`);
    assert.equal(runtime.server('a'), undefined, 'forgotten after the drain');
  });
});
