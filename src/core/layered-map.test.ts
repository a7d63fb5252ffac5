import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { editableCopy, LAYER_FROM, LayeredMap } from './layered-map.ts';
import { seededRandom } from './seeded-random.ts';

// Issue 13 point 4: the snapshot's maps are edited into the next without copying them whole.
// A LayeredMap must read exactly as the copied-and-edited Map would, order included.

describe('LayeredMap (issue 13 point 4)', () => {
  it('reads as a copied Map over a chain of 2,000 edits, through layers and flattening', () => {
    const r = seededRandom(5);
    const start = new Map<string, number>();
    for (let i = 0; i < 2 * LAYER_FROM; i++) start.set(`k${i}`, i);
    // Keys range a little past the start (added ones) and are set more often than removed.
    let plain: Map<string, number> = start;
    let layered: ReadonlyMap<string, number> = start;
    let layers = 0;
    let flattened = 0;
    for (let n = 0; n < 2000; n++) {
      const nextPlain = new Map(plain);
      const next = editableCopy(layered, 40);
      if (next instanceof LayeredMap) layers++;
      else if (layered instanceof LayeredMap) flattened++;
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
        const key = `k${Math.floor(r() * (2 * LAYER_FROM + 50))}`;
        const what = r();
        if (what < 0.7) {
          nextPlain.set(key, n);
          next.set(key, n);
        } else {
          assert.equal(next.delete(key), nextPlain.delete(key), `delete ${key} at ${n}`);
        }
      }
      assert.equal(next.size, nextPlain.size, `size at ${n}`);
      assert.deepEqual([...next], [...nextPlain], `entries in order at ${n}`);
      for (let k = 0; k < 20; k++) {
        const key = `k${Math.floor(r() * (2 * LAYER_FROM + 50))}`;
        assert.equal(next.get(key), nextPlain.get(key), `get ${key} at ${n}`);
        assert.equal(next.has(key), nextPlain.has(key), `has ${key} at ${n}`);
      }
      // The previous map is untouched by the edits of the next.
      assert.deepEqual([...layered], [...plain], `the previous map at ${n}`);
      plain = nextPlain;
      layered = next;
    }
    assert.ok(layers > 1500, `${layers} layered copies`);
    assert.ok(flattened > 10, `${flattened} flattened copies`);
  });

  it('keys, values, forEach and size agree; a removed key added again goes to the end', () => {
    const base = new Map([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    const m = new LayeredMap(base);
    m.set('b', 20);
    m.delete('a');
    m.set('d', 4);
    m.set('a', 10);
    const copy = new Map(base);
    copy.set('b', 20);
    copy.delete('a');
    copy.set('d', 4);
    copy.set('a', 10);
    assert.deepEqual([...m.keys()], [...copy.keys()]);
    assert.deepEqual([...m.values()], [...copy.values()]);
    const seen: [string, number][] = [];
    m.forEach((v, k) => {
      seen.push([k, v]);
    });
    assert.deepEqual(seen, [...copy]);
    assert.equal(m.size, 4);
    assert.equal(m.delete('zz'), false);
    assert.deepEqual(
      [...base],
      [
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ],
    );
  });

  it('editedSince names the keys two maps over one base may differ on, and nothing for other bases', () => {
    const base = new Map(Array.from({ length: LAYER_FROM }, (_, i) => [`k${i}`, i] as [string, number]));
    const one = editableCopy(base) as LayeredMap<string, number>;
    one.set('k1', -1);
    one.set('added', 1);
    const two = one.derive();
    two.delete('k2');
    two.set('new', 7);
    two.delete('added'); // gone from two's layers altogether: one's layers name it
    assert.deepEqual([...(two.editedSince(one) ?? [])].sort(), ['added', 'k1', 'k2', 'new']);
    assert.equal(two.editedSince(new Map(two)), undefined);
    assert.ok(editableCopy(new Map([['x', 1]])) instanceof Map, 'a small map is copied');
  });
});
