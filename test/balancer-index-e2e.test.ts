import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { LOAD_INDEX_FROM } from '../src/balancer/base.ts';
import { LOAD_INDEX_RESYNC_MS } from '../src/balancer/load-index.ts';
import { listenLocal, startTestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { addFrontend } from './helpers/persistence-support.ts';

// Issue 13 point 5 end to end: least-connections over more servers than LOAD_INDEX_FROM keeps
// them in its load index. Real requests are held open by the backend servers, with one
// worker and with two (each with its own index over the shared counts): the requests spread
// one more on each server in turn, and when a group of servers finish theirs, the next
// requests go back to them, whichever worker closed them.

const SERVERS = LOAD_INDEX_FROM + 16;

/** Backend servers on their own ports that hold every request until `release(i)`. */
async function holdingServers(n: number) {
  const held: http.ServerResponse[][] = Array.from({ length: n }, () => []);
  const listeners = await Promise.all(
    held.map((list) =>
      listenLocal(
        http.createServer((req, res) => {
          req.resume();
          list.push(res);
          res.on('close', () => list.splice(list.indexOf(res), 1));
        }),
      ),
    ),
  );
  return {
    ports: listeners.map((l) => l.port),
    /** Requests each server holds now. */
    counts: () => held.map((l) => l.length),
    /** Answers every request server `i` holds. */
    release: (i: number) => {
      for (const res of [...held[i]!]) res.end('done');
    },
    close: () => Promise.all(listeners.map((l) => l.close())),
  };
}

/** Sends `n` requests on their own connections; resolves when every one was answered. */
function sendHeld(port: number, n: number): Promise<number[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<number>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
        }),
    ),
  );
}

for (const workers of [1, 2]) {
  describe(`least-connections over ${SERVERS} servers, ${workers} worker(s) (issue 13 point 5)`, () => {
    it('spreads held requests evenly, and sends the next ones to the servers that emptied', async (t) => {
      const backend = await holdingServers(SERVERS);
      t.after(() => backend.close());
      const f = await startTestFulcrum({ t, workers });
      const lb = await f.ok('POST', '/load-balancers', {
        name: `lc-index-${workers}`,
        allowedNetworks: ['127.0.0.0/8'],
      });
      const be = await f.ok('POST', '/backends', {
        loadBalancerId: lb.id,
        name: 'many',
        mode: 'http',
        algorithm: 'least-connections',
        healthCheck: { enabled: false },
      });
      for (const [i, port] of backend.ports.entries()) {
        await f.ok('POST', `/backends/${be.id}/servers`, {
          name: `s${i}`,
          serverType: 'web',
          address: '127.0.0.1',
          port,
        });
      }
      const port = await addFrontend(f.ok, lb.id, 'fe', be.id);

      const first = sendHeld(port, 2 * SERVERS);
      await waitFor(() => backend.counts().reduce((a, b) => a + b, 0) === 2 * SERVERS, 5000, 'every request held');
      const spread = backend.counts();
      if (workers === 1) {
        const rts = [...f.fulcrum.plane.runtime.servers.values()];
        assert.ok(
          rts.length === SERVERS && rts.every((s) => s.loadWatcher !== undefined),
          'the picks went through the load index',
        );
        assert.deepEqual(new Set(spread), new Set([2]), `exactly two each: ${spread}`);
      }
      // Two workers picking at the same instant may both see a count before either raised it.
      else assert.ok(Math.min(...spread) >= 1 && Math.max(...spread) <= 3, `about two each: ${spread}`);

      // The first ten servers finish their requests, on whichever worker took them.
      for (let i = 0; i < 10; i++) backend.release(i);
      await new Promise((r) => setTimeout(r, 3 * LOAD_INDEX_RESYNC_MS));
      const before = backend.counts();
      const freed = before.slice(0, 10).reduce((a, b) => a + b, 0);
      assert.equal(freed, 0);
      const second = sendHeld(port, 20);
      await waitFor(() => backend.counts().reduce((a, b) => a + b, 0) === 2 * SERVERS, 5000, 'the next requests held');
      const after = backend.counts();
      const gained = after.map((c, i) => c - before[i]!);
      const toEmptied = gained.slice(0, 10).reduce((a, b) => a + b, 0);
      if (workers === 1) assert.equal(toEmptied, 20, `the emptied servers took the next requests: ${gained}`);
      else {
        // A server left with one request by a race above is as least loaded as an emptied one.
        const room = before.reduce((a, c, i) => a + (i >= 10 && c < 2 ? 2 - c : 0), 0);
        assert.ok(toEmptied >= 20 - room - 1, `the emptied servers took the next requests: ${gained} (${room})`);
      }
      assert.ok(Math.max(...after) <= 3, `no server took a third while others had none: ${after}`);

      for (let i = 0; i < SERVERS; i++) backend.release(i);
      const answers = [...(await first), ...(await second)];
      assert.deepEqual(new Set(answers), new Set([200]));
    });
  });
}
