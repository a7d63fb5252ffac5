import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FIELDS,
  HISTORY_BYTES_PER_SERIES,
  type HistoryInput,
  HistoryStore,
  MINUTE_ROWS,
  SECOND_ROWS,
} from './history.ts';

// issue 16 point 3: fixed-size rings, per-second deltas, minute rows, bounds.
function input(requests: number, over: Partial<HistoryInput> = {}): HistoryInput {
  return {
    requests,
    responses: [0, 0, requests, 0, 0, 0],
    bytesIn: requests * 10,
    bytesOut: requests * 100,
    activeConnections: 1,
    ...over,
  };
}

describe('HistoryStore', () => {
  it('records per-second deltas after a baseline, with null before a series existed', () => {
    const h = new HistoryStore();
    const t0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);
    h.record(t0, new Map([['a', input(0)]]));
    h.record(t0 + 1000, new Map([['a', input(5)]]));
    h.record(
      t0 + 2000,
      new Map([
        ['a', input(12)],
        ['b', input(3)],
      ]),
    );
    h.record(
      t0 + 3000,
      new Map([
        ['a', input(12)],
        ['b', input(4)],
      ]),
    );
    const r = h.read(['a', 'b'], 'second');
    assert.deepEqual(r.times, [t0 + 1000, t0 + 2000, t0 + 3000]);
    assert.deepEqual(r.series.a!.requests, [5, 7, 0]);
    assert.deepEqual(r.series.a!['2xx'], [5, 7, 0]);
    assert.deepEqual(r.series.a!.bytesOut, [500, 700, 0]);
    assert.deepEqual(r.series.b!.requests, [null, null, 1]);
    assert.deepEqual(r.series.a!.ttfbP50Ms, [null, null, null], 'no TTFB histogram: null');
    assert.deepEqual(Object.keys(r.series.a!), [...FIELDS]);
    assert.equal(h.read(['a'], 'second', 2).times.length, 2);
  });

  it('keeps 900 seconds and 1440 minutes at most, and drops series that are gone', () => {
    const h = new HistoryStore();
    const t0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);
    const ttfb = new Uint32Array(64);
    let n = 0;
    // 25 hours of 1 sample per 30 s (the minute ring wraps), then 1000 seconds (the second ring wraps)
    for (let i = 0; i < 25 * 120; i++) {
      ttfb[20]! += 1; // ~ 3 ms
      h.record(t0 + i * 30_000, new Map([['a', input((n += 2), { ttfb })]]));
    }
    const m = h.read(['a'], 'minute');
    assert.equal(m.times.length, MINUTE_ROWS);
    assert.equal(m.intervalSeconds, 60);
    assert.ok(m.times.every((t, i) => i === 0 || t - m.times[i - 1]! === 60_000));
    assert.ok(
      m.series.a!.requests.every((v) => v === 4),
      'two samples of 2 requests per minute',
    );
    assert.ok(m.series.a!.ttfbP50Ms.every((v) => v !== null && v > 2.5 && v < 3.6));
    assert.ok(
      m.series.a!.activeConnections.every((v) => v === 1),
      'mean of the samples',
    );
    for (let i = 0; i < 1000; i++) h.record(t0 + 25 * 3_600_000 + i * 1000, new Map([['a', input((n += 1))]]));
    const s = h.read(['a'], 'second');
    assert.equal(s.times.length, SECOND_ROWS);
    assert.ok(s.series.a!.requests.every((v) => v === 1));
    assert.equal(h.size, 1);
    h.record(t0 + 26 * 3_600_000, new Map());
    assert.equal(h.size, 0);
    assert.deepEqual(
      h.read(['a'], 'second').series.a!.requests.filter((v) => v !== null),
      [],
    );
    assert.equal(HISTORY_BYTES_PER_SERIES, 113_024);
  });
});
