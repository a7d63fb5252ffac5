import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeQueue, describeTerminations, readResponses, readStats, StatsHistory } from './stats.ts';

describe('stats reading (O1, P4)', () => {
  it('reads responses in every shape', () => {
    assert.deepEqual(readResponses([0, 1, 2, 3, 4, 5]), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(readResponses({ '2xx': 7, '5xx': 1, other: 2 }), [2, 0, 7, 0, 0, 1]);
    assert.deepEqual(readResponses({ c4xx: 3 }), [0, 0, 0, 0, 3, 0]);
    assert.deepEqual(readResponses(null), [0, 0, 0, 0, 0, 0]);
  });
  it('reads arrays, maps and servers nested in backends', () => {
    const a = readStats({ servers: [{ id: 's1', requests: 10, activeConnections: 2 }] }, 1000);
    assert.equal(a.servers.get('s1')?.requests, 10);
    assert.equal(a.servers.get('s1')?.activeConnections, 2);
    const b = readStats({ servers: { s2: { requests: 4, requestsPerSecond: 1.5 } } }, 1000);
    assert.equal(b.servers.get('s2')?.requestsPerSecond, 1.5);
    const c = readStats({ backends: [{ id: 'b1', servers: [{ id: 's3', requests: 1 }] }] }, 1000);
    assert.equal(c.servers.get('s3')?.backendId, 'b1');
    assert.equal(c.backends.get('b1')?.requests, 0);
    assert.equal(readStats(null, 0).servers.size, 0);
  });
  it('derives rates from totals and keeps a bounded history', () => {
    const h = new StatsHistory(3);
    h.push(readStats({ servers: [{ id: 's1', requests: 0, responses: [0, 0, 0, 0, 0, 0] }] }, 0));
    h.push(readStats({ servers: [{ id: 's1', requests: 20, responses: [0, 0, 18, 0, 0, 2] }] }, 2000));
    assert.equal(h.serverRate('s1'), 10);
    assert.equal(h.serverRate('nope'), 0);
    const [t, rps] = h.columns(['s1'], 'rps');
    assert.deepEqual(t, [2]);
    assert.deepEqual(rps, [10]);
    assert.deepEqual(h.columns(['s1'], 'c5')[1], [1]);
    assert.deepEqual(h.columns(['s1'], 'c2')[1], [9]);
    h.push(readStats({ servers: [{ id: 's1', requests: 20, activeConnections: 4 }] }, 4000));
    h.push(readStats({ servers: [{ id: 's1', requests: 30 }] }, 6000));
    assert.equal(h.size, 3);
    assert.deepEqual(h.columns(['s1'], 'active')[1], [4, 0]);
    assert.equal(h.serverRate('s1'), 5);
  });
  it('uses the API rate only for the first sample, then the sampled difference', () => {
    const h = new StatsHistory();
    h.push(readStats({ servers: [{ id: 's1', requests: 0, requestsPerSecond: 3 }] }, 0));
    assert.equal(h.serverRate('s1'), 3);
    h.push(readStats({ servers: [{ id: 's1', requests: 8, requestsPerSecond: 30 }] }, 2000));
    assert.equal(h.serverRate('s1'), 4, 'the same window as the response classes');
  });
});

describe('seeded history (issue 16 point 3)', () => {
  it('charts the API history before the first live point, per second, per minute divided by 60', () => {
    const h = new StatsHistory();
    h.seed({
      intervalSeconds: 1,
      times: [1000, 2000, 3000],
      servers: {
        s1: { requests: [null, 4, 6], '2xx': [null, 3, 6], activeConnections: [null, 1, 2] },
        s2: { requests: [1, 1, 1] },
      },
    });
    assert.equal(h.pastSize('s1'), 3);
    assert.deepEqual(h.columns(['s1', 's2'], 'rps'), [
      [1, 2, 3],
      [0, 4, 6],
      [1, 1, 1],
    ]);
    assert.deepEqual(h.columns(['s1'], 'c2')[1], [0, 3, 6]);
    assert.deepEqual(h.columns(['s1'], 'active')[1], [0, 1, 2]);
    // live samples follow; seeded points at or after the first live point give way
    h.push(readStats({ servers: [{ id: 's1', requests: 100 }] }, 2500));
    h.push(readStats({ servers: [{ id: 's1', requests: 110 }] }, 4500));
    assert.deepEqual(h.columns(['s1'], 'rps'), [
      [1, 2, 3, 4.5],
      [0, 4, 6, 5],
    ]);
    const m = new StatsHistory();
    m.seed({ intervalSeconds: 60, times: [60_000], frontends: { f1: { requests: [120] } } });
    assert.deepEqual(m.columns(['f1'], 'rps', 'frontends'), [[60], [2]]);
  });
});

describe('termination reasons (issue 12 point 2)', () => {
  it('reads the counts that are above zero and lists them most frequent first', () => {
    const s = readStats(
      {
        servers: [
          {
            id: 's1',
            terminations: { 'connect-refused': 3, 'no-server': 0, retried: 5, 'server-reset': 'x', 'bad-response': 3 },
          },
        ],
      },
      0,
    );
    const t = s.servers.get('s1')?.terminations;
    assert.deepEqual(t, { 'connect-refused': 3, retried: 5, 'bad-response': 3 });
    assert.equal(describeTerminations(t), 'retried 5 · bad-response 3 · connect-refused 3');
    assert.equal(describeTerminations({}), 'none');
    assert.equal(describeTerminations(undefined), 'none');
  });

  it('queue of a backend and limit of a server (issue 15 point 4)', () => {
    const s = readStats(
      {
        backends: [
          {
            id: 'b1',
            queue: { maxLength: 100, length: 3, served: 80, timeouts: 2, full: 1, waitMsAvg: 120.4, waitMsMax: 310 },
          },
          { id: 'b2', queue: { maxLength: 0, length: 0, served: 0, timeouts: 0, full: 0, waitMsAvg: 0, waitMsMax: 0 } },
        ],
        servers: [{ id: 's1', backendId: 'b1', activeConnections: 10, connectionLimit: 10 }],
      },
      0,
    );
    assert.equal(s.servers.get('s1')?.connectionLimit, 10);
    assert.equal(
      describeQueue(s.backends.get('b1')?.queue),
      '3 waiting · 120 ms avg wait (max 310) · 2 timed out · 1 refused full',
    );
    assert.equal(describeQueue(s.backends.get('b2')?.queue), 'off');
    assert.equal(describeQueue(undefined), '—');
  });
});
