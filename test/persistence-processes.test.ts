import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ConfigState } from '../src/config/model.ts';
import { cookiePair, send, sessionServer, setCookieOf } from './helpers/persistence-support.ts';
import { backend, baseConfig, freePort, frontend, server } from './helpers/plane.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'persistence-child.ts');
const KEY = 'shared-cookie-key-of-every-node-0123456789';

/** Starts a data-plane process on `config`; resolves once its frontends listen. */
async function startPlane(config: ConfigState): Promise<ChildProcess> {
  const child = fork(CHILD, [JSON.stringify({ config, cookieKey: KEY })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ listening: Record<string, boolean> }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('data-plane child not ready within 10 s')), 10_000);
    child.once('message', (m) => {
      clearTimeout(t);
      resolve(m as { listening: Record<string, boolean> });
    });
    child.once('exit', (code) => reject(new Error(`data-plane child exited with ${code}`)));
  });
  for (const [id, ok] of Object.entries(ready.listening)) assert.ok(ok, `frontend ${id} listening in the child`);
  return child;
}

/** A raw TCP server that writes its name and closes. */
async function tcpNamed(name: string): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.end(name);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

/** Connects from `localAddress` to a TCP frontend and reads everything until the server closes. */
function tcpRead(port: number, localAddress: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    const t = setTimeout(() => s.destroy(new Error('tcp read timed out')), 5000);
    s.setEncoding('utf8');
    s.on('data', (d) => (text += d));
    s.on('close', () => {
      clearTimeout(t);
      resolve(text);
    });
    s.on('error', reject);
  });
}

// P5: persistence works the same in every worker process and on every node without a shared
// session table. Two separate data-plane processes run the same configuration with the same
// cookie key (as two workers or two nodes would); clients alternate between them.
describe('persistence across two data-plane processes (P5)', () => {
  const children: ChildProcess[] = [];
  const apps: Awaited<ReturnType<typeof sessionServer>>[] = [];
  const tcpApps: Awaited<ReturnType<typeof tcpNamed>>[] = [];
  /** per process: [cookie frontend port, source-ip frontend port, tcp source-ip frontend port] */
  const ports: number[][] = [];

  before(async () => {
    for (const n of ['a', 'b', 'c']) apps.push(await sessionServer(n));
    for (const n of ['ta', 'tb', 'tc']) tcpApps.push(await tcpNamed(n));
    for (let p = 0; p < 2; p++) {
      const fp = [await freePort(), await freePort(), await freePort()];
      ports.push(fp);
      const c = baseConfig();
      c.backends.push(
        backend('ck', 'http', { algorithm: 'round-robin', persistence: { type: 'cookie', timeoutSeconds: 600 } }),
        backend('sip', 'http', { algorithm: 'round-robin', persistence: { type: 'source-ip', timeoutSeconds: 600 } }),
        backend('tsip', 'tcp', { algorithm: 'round-robin', persistence: { type: 'source-ip', timeoutSeconds: 600 } }),
      );
      for (const a of apps)
        c.servers.push(server(`ck-${a.name}`, 'ck', a.port), server(`sip-${a.name}`, 'sip', a.port));
      for (const [i, a] of tcpApps.entries()) c.servers.push(server(`tsip-${i}`, 'tsip', a.port));
      c.frontends.push(
        frontend('fe-ck', 'http', fp[0]!, 'ck'),
        frontend('fe-sip', 'http', fp[1]!, 'sip'),
        frontend('fe-tsip', 'tcp', fp[2]!, 'tsip'),
      );
      c.version = 7;
      children.push(await startPlane(c));
    }
  });

  after(async () => {
    for (const ch of children) {
      if (ch.exitCode !== null) continue;
      const exited = new Promise((r) => ch.once('exit', r));
      ch.send('exit');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (ch.exitCode === null) ch.kill();
    }
    for (const a of apps) await a.close();
    for (const a of tcpApps) await a.close();
  });

  it('cookie: a cookie inserted by either process is honoured by the other', async () => {
    const placed = new Set<string>();
    for (let client = 0; client < 8; client++) {
      const origin = client % 2;
      const first = await send(ports[origin]![0]!);
      assert.equal(first.status, 200);
      const pair = cookiePair(first);
      placed.add(first.body);
      for (let i = 0; i < 10; i++) {
        const r = await send(ports[(origin + 1 + i) % 2]![0]!, { cookie: pair });
        assert.equal(r.status, 200);
        assert.equal(r.body, first.body, `client ${client} request ${i} on process ${(origin + 1 + i) % 2}`);
        assert.equal(setCookieOf(r), undefined, 'the other process accepts the cookie as is');
      }
    }
    assert.ok(placed.size >= 2, 'new sessions are balanced');
  });

  it('source-ip (HTTP): both processes send each client address to the same server', async () => {
    const where = new Map<string, string>();
    for (let k = 0; k < 30; k++) {
      const addr = `127.0.6.${10 + k}`;
      for (let i = 0; i < 6; i++) {
        const r = await send(ports[i % 2]![1]!, { localAddress: addr });
        assert.equal(r.status, 200);
        if (i === 0) where.set(addr, r.body);
        else assert.equal(r.body, where.get(addr), `${addr} request ${i} on process ${i % 2}`);
      }
    }
    assert.ok(new Set(where.values()).size >= 2, 'clients spread over the servers');
  });

  it('source-ip (TCP): both processes send each client address to the same server', async () => {
    const where = new Map<string, string>();
    for (let k = 0; k < 20; k++) {
      const addr = `127.0.7.${10 + k}`;
      for (let i = 0; i < 4; i++) {
        const name = await tcpRead(ports[i % 2]![2]!, addr);
        assert.match(name, /^t[abc]$/);
        if (i === 0) where.set(addr, name);
        else assert.equal(name, where.get(addr), `${addr} connection ${i} on process ${i % 2}`);
      }
    }
    assert.ok(new Set(where.values()).size >= 2, 'clients spread over the servers');
  });
});
