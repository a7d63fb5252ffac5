import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FlowNode, FlowTable } from './flow-table.ts';

function node(address: string, port: number): FlowNode {
  return { clientAddress: address, clientPort: port, lastSeen: 0, prev: null, next: null };
}

test('get finds flows by address and port; distinct ports and addresses are distinct flows', () => {
  const t = new FlowTable<FlowNode>();
  const a = node('127.0.0.1', 1000);
  const b = node('127.0.0.1', 1001);
  const c = node('::1', 1000);
  t.add(a, 1);
  t.add(b, 2);
  t.add(c, 3);
  assert.equal(t.size, 3);
  assert.equal(t.get('127.0.0.1', 1000), a);
  assert.equal(t.get('127.0.0.1', 1001), b);
  assert.equal(t.get('::1', 1000), c);
  assert.equal(t.get('::1', 1001), undefined);
  assert.equal(t.get('10.0.0.1', 1000), undefined);
});

test('adding the same address and port twice throws and changes nothing', () => {
  const t = new FlowTable<FlowNode>();
  const a = node('127.0.0.1', 1000);
  t.add(a, 1);
  assert.throws(() => t.add(node('127.0.0.1', 1000), 2), /already present/);
  assert.equal(t.size, 1);
  assert.equal(t.get('127.0.0.1', 1000), a);
  assert.deepEqual(t.toArray(), [a]);
});

test('LRU order: touch moves a flow to the recent end; oldest() is the least recently seen', () => {
  const t = new FlowTable<FlowNode>();
  const [a, b, c] = [node('a', 1), node('b', 1), node('c', 1)];
  t.add(a, 10);
  t.add(b, 20);
  t.add(c, 30);
  assert.equal(t.oldest(), a);
  t.touch(a, 40);
  assert.equal(a.lastSeen, 40);
  assert.deepEqual(t.toArray(), [b, c, a]);
  t.touch(c, 50);
  assert.deepEqual(t.toArray(), [b, a, c]);
  t.touch(c, 60); // already most recent
  assert.deepEqual(t.toArray(), [b, a, c]);
  assert.equal(c.lastSeen, 60);
  assert.equal(t.oldest(), b);
});

test('remove unlinks head, middle and tail, is idempotent, and frees the key', () => {
  const t = new FlowTable<FlowNode>();
  const ns = [node('x', 1), node('x', 2), node('x', 3), node('x', 4)];
  for (const [i, n] of ns.entries()) t.add(n, i);
  assert.equal(t.remove(ns[1]!), true);
  assert.deepEqual(t.toArray(), [ns[0], ns[2], ns[3]]);
  assert.equal(t.remove(ns[1]!), false);
  assert.equal(t.remove(ns[0]!), true);
  assert.equal(t.remove(ns[3]!), true);
  assert.deepEqual(t.toArray(), [ns[2]]);
  assert.equal(t.oldest(), ns[2]);
  assert.equal(t.remove(ns[2]!), true);
  assert.equal(t.size, 0);
  assert.equal(t.oldest(), undefined);
  assert.deepEqual(t.toArray(), []);
  // a removed key can be added again
  t.add(ns[1]!, 9);
  assert.equal(t.get('x', 2), ns[1]);
  // removing a different object with the same key does not remove the stored one
  assert.equal(t.remove(node('x', 2)), false);
  assert.equal(t.size, 1);
});

test('a flood of 50,000 distinct flows with eviction of the oldest stays within a bound of 1,000', () => {
  const t = new FlowTable<FlowNode>();
  const max = 1000;
  let evicted = 0;
  const start = performance.now();
  for (let i = 0; i < 50_000; i++) {
    if (t.size >= max) {
      const old = t.oldest()!;
      t.remove(old);
      evicted++;
    }
    t.add(node(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1024 + (i % 60000)), i);
    assert.ok(t.size <= max);
  }
  assert.equal(t.size, max);
  assert.equal(evicted, 49_000);
  // the survivors are the 1,000 most recent, oldest first
  const left = t.toArray();
  assert.equal(left[0]!.lastSeen, 49_000);
  assert.equal(left.at(-1)!.lastSeen, 49_999);
  assert.ok(performance.now() - start < 2000, 'flow table operations are O(1)');
});

test('expiry walk: flows idle for the timeout are found from the oldest end only', () => {
  const t = new FlowTable<FlowNode>();
  const ns = Array.from({ length: 10 }, (_, i) => node('c', i + 1));
  for (const [i, n] of ns.entries()) t.add(n, i * 100); // lastSeen 0, 100, …, 900
  t.touch(ns[0]!, 950);
  const now = 1000;
  const timeout = 500;
  const expired: FlowNode[] = [];
  for (let f = t.oldest(); f && now - f.lastSeen >= timeout; f = t.oldest()) {
    t.remove(f);
    expired.push(f);
  }
  assert.deepEqual(
    expired.map((f) => f.clientPort),
    [2, 3, 4, 5, 6],
  );
  assert.equal(t.size, 5);
  assert.equal(t.oldest(), ns[6]);
});
