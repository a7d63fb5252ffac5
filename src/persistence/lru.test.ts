import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdleLru } from './lru.ts';

test('idle expiry: an entry lives while used, dies after idleMs without use', () => {
  const lru = new IdleLru<string>(10, 1000);
  lru.set('a', 'A', 0);
  assert.equal(lru.get('a', 900), 'A');
  assert.equal(lru.get('a', 1800), 'A', 'the read at 900 refreshed it');
  assert.equal(lru.get('a', 2801), undefined);
  assert.equal(lru.size, 0);
});

test('size bound evicts the least recently used; expired entries are swept on write', () => {
  const lru = new IdleLru<number>(3, 1000);
  lru.set('a', 1, 0);
  lru.set('b', 2, 1);
  lru.set('c', 3, 2);
  lru.get('a', 3);
  lru.set('d', 4, 4);
  assert.equal(lru.peek('b'), undefined, 'b was least recently used');
  assert.deepEqual(
    ['a', 'c', 'd'].map((k) => lru.peek(k)),
    [1, 3, 4],
  );
  assert.equal(lru.evictions, 1);
  lru.set('e', 5, 1004); // c (2) expired; a (3) expired; d (4) alive
  assert.equal(lru.size, 2);
  assert.equal(lru.evictions, 1, 'expiry is not eviction');
});

test('idleMs 0 keeps entries forever (size bound only); configure changes bounds; bad bounds refused', () => {
  const lru = new IdleLru<number>(2, 0);
  lru.set('a', 1, 0);
  assert.equal(lru.get('a', 1e12), 1);
  lru.configure(2, 10);
  assert.equal(lru.get('a', 1e12 + 11), undefined);
  assert.throws(() => new IdleLru(0, 0), /maxEntries must be an integer ≥ 1/);
  assert.throws(() => new IdleLru(1.5, 0), /maxEntries/);
  assert.throws(() => new IdleLru(1, -1), /idleMs must be ≥ 0/);
  assert.throws(() => lru.configure(1, Number.NaN), /idleMs/);
  assert.equal(lru.size, 0);
});
