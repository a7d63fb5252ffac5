import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { testConfig } from '../../balancer/test-helpers.ts';
import { compile } from '../../config/snapshot.ts';
import { realClock } from '../../core/clock.ts';
import { ServerRuntime } from '../../runtime/server-runtime.ts';
import { UpstreamConn, type UpstreamOwner, UpstreamPool } from './pool.ts';

/** An owner that records what it is given; `keeps` says whether it reports the bytes as still referenced. */
function owner(keeps: boolean): UpstreamOwner & { chunks: Buffer[]; connected: Promise<void>; bytes(): number } {
  let connected!: () => void;
  const chunks: Buffer[] = [];
  return {
    chunks,
    connected: new Promise<void>((r) => {
      connected = r;
    }),
    bytes: () => chunks.reduce((n, c) => n + c.length, 0),
    onUpstreamConnect: () => connected(),
    // an owner that does not keep a chunk copies it at once, as a client write that left would
    onUpstreamData: (_u: UpstreamConn, chunk: Buffer) => {
      chunks.push(keeps ? chunk : Buffer.from(chunk));
    },
    onUpstreamEnd: () => {},
    onUpstreamClose: () => {},
    onUpstreamDrain: () => {},
    retainsChunk: () => keeps,
  };
}

async function until(what: () => boolean, label: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out: ${label}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const during of [false, true]) {
  test(`a pooled connection taken by a new owner never reads over bytes its last owner still holds (released ${during ? 'during' : 'after'} its last read)`, async (t) => {
    // The server answers "A" with 1,000 a's, and "B" with b's, c's and d's in three separate writes.
    const server = net.createServer((s) => {
      s.on('data', (d) => {
        if (String(d) === 'A') s.write('a'.repeat(1000));
        else {
          s.write('b'.repeat(1000));
          setTimeout(() => s.write('c'.repeat(1000)), 30);
          setTimeout(() => s.write('d'.repeat(1000)), 60);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const config = testConfig([{ address: '127.0.0.1' }]);
    (config.backends[0] as { port: number }).port = (server.address() as net.AddressInfo).port;
    const backend = compile(config).backends.get('b1')!;
    const rt = new ServerRuntime(backend.servers[0]!, backend);
    const pool = new UpstreamPool(realClock);
    // Owner A keeps its last chunk referenced (its client has not taken it yet) when the
    // connection goes back to the pool; owner B's client takes everything at once.
    const a = owner(true);
    const conn = new UpstreamConn(rt, pool, a);
    if (during) {
      // as an exchange does: the last chunk completes it, and it gives the connection back at once
      const onData = a.onUpstreamData;
      a.onUpstreamData = (u, chunk) => {
        onData(u, chunk);
        if (a.bytes() === 1000) pool.release(conn, realClock.now());
      };
    }
    t.after(() => conn.destroy());
    await a.connected;
    conn.socket.write('A');
    await until(() => a.bytes() === 1000, 'A answered');
    if (!during) pool.release(conn, realClock.now());
    const again = pool.acquire(rt);
    assert.equal(again, conn, 'the same connection is reused');
    const b = owner(false);
    conn.owner = b;
    conn.socket.write('B');
    await until(() => b.bytes() === 3000, 'B answered');
    assert.ok(b.chunks.length >= 2, `B's answer came in several reads (${b.chunks.length})`);
    assert.equal(Buffer.concat(b.chunks).toString(), `${'b'.repeat(1000)}${'c'.repeat(1000)}${'d'.repeat(1000)}`);
    assert.equal(Buffer.concat(a.chunks).toString(), 'a'.repeat(1000), "A's bytes are intact");
  });
}
