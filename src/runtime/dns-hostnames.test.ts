import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerSpec } from '../config/snapshot.ts';
import { editableCopy, LayeredMap } from '../core/layered-map.ts';
import { hostnameServers } from './dns.ts';

// Issue 13 point 4: which servers need DNS is found from a layered map's edits, not by testing
// every address of 10,000 servers on each change.

const spec = (id: string, address: string, instanceId: string | null = null) =>
  ({ id, address, instanceId }) as unknown as ServerSpec;

const sorted = (m: ReadonlyMap<string, ServerSpec>) => [...m].sort((a, b) => a[0].localeCompare(b[0]));

describe('hostnameServers over layered maps (issue 13 point 4)', () => {
  it('equals testing every address, over a chain of edits', () => {
    const base = new Map<string, ServerSpec>();
    for (let i = 0; i < 1000; i++)
      base.set(`s${i}`, spec(`s${i}`, i % 10 === 0 ? `h${i}.example` : `10.0.${i >> 8}.${i & 255}`));
    let map: ReadonlyMap<string, ServerSpec> = base;
    assert.equal(hostnameServers(map).size, 100);
    let layered = 0;
    for (let n = 0; n < 300; n++) {
      const next = editableCopy(map, 100);
      const i = (n * 37) % 1100;
      const what = n % 5;
      if (what === 0) next.delete(`s${i}`);
      else if (what === 1) next.set(`s${i}`, spec(`s${i}`, `new${n}.example`));
      else if (what === 2) next.set(`s${i}`, spec(`s${i}`, '10.9.9.9'));
      else if (what === 3) next.set(`s${i}`, spec(`s${i}`, `inv${n}.example`, 'instance-1'));
      else next.set(`n${n}`, spec(`n${n}`, `added${n}.example`));
      if (next instanceof LayeredMap) layered++;
      const want = new Map<string, ServerSpec>();
      for (const [id, s] of next) if (s.instanceId === null && !/^[0-9.]+$/.test(s.address)) want.set(id, s);
      assert.deepEqual(sorted(hostnameServers(next)), sorted(want), `change ${n}`);
      map = next;
    }
    assert.ok(layered > 250, `${layered} layered maps`);
  });
});
