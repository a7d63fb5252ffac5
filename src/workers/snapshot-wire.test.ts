import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backend, baseConfig, frontend, server } from '../../test/helpers/plane.ts';
import { shallowDraft, touched } from '../config/changes.ts';
import { compileChange } from '../config/compile-incremental.ts';
import type { ConfigState } from '../config/model.ts';
import { compile, type Snapshot } from '../config/snapshot.ts';
import { LayeredMap } from '../core/layered-map.ts';
import { decodeDelta, encodeDelta } from './snapshot-wire.ts';

function config(): ConfigState {
  const c = baseConfig({ allowedNetworks: ['10.0.0.0/8'] });
  c.backends.push(backend('web', 'http', { port: 80 }), backend('api', 'http', { port: 81 }));
  for (let i = 0; i < 5; i++) c.servers.push(server(`w${i}`, 'web', 80, { address: `10.0.0.${i + 1}` }));
  c.servers.push(server('a0', 'api', 81, { address: '10.0.1.1' }));
  c.frontends.push(frontend('fe', 'http', 8080, 'web'));
  c.frontends[0]!.rules = [{ match: { pathPrefix: '/api' }, backendId: 'api' }] as never;
  c.version = 1;
  return c;
}

/** What crosses a thread boundary: the delta through structured clone, as postMessage does. */
function across(prev: Snapshot | undefined, next: Snapshot, held: Snapshot | undefined): Snapshot {
  return decodeDelta(held, structuredClone(encodeDelta(prev, next)));
}

describe('snapshot deltas to worker threads (issue 13 point 1)', () => {
  it('a whole snapshot decodes to the same specs, references linked', () => {
    const s = compile(config());
    const w = across(undefined, s, undefined);
    assert.deepEqual(w, s);
    const fe = w.frontends.get('fe')!;
    assert.equal(fe.defaultBackend, w.backends.get('web'), 'the default backend is the map entry itself');
    assert.equal(fe.rules[0]!.backend, w.backends.get('api'));
    assert.equal(w.backends.get('web')!.servers[2], w.servers.get('w2'));
  });

  it('a one-server change sends that server and its backend; everything else stays the same object', () => {
    const c = config();
    const s1 = compile(c);
    const held = across(undefined, s1, undefined);
    // The change as the incremental compile leaves it: new objects for w3 and web only.
    const w3 = { ...s1.servers.get('w3')!, weight: 7 };
    const web = {
      ...s1.backends.get('web')!,
      servers: s1.backends.get('web')!.servers.map((x) => (x.id === 'w3' ? w3 : x)),
    };
    const s2: Snapshot = {
      ...s1,
      version: 2,
      servers: new Map([...s1.servers].map(([id, x]) => [id, id === 'w3' ? w3 : x])),
      backends: new Map([...s1.backends].map(([id, x]) => [id, id === 'web' ? web : x])),
    };
    const delta = encodeDelta(s1, s2);
    assert.deepEqual(
      [delta.servers.map((x) => x.id), delta.backends.map((x) => x.id), delta.frontends.length],
      [['w3'], ['web'], 0],
    );
    assert.ok(delta.backends[0]!.same.includes('config'), 'the unchanged raw document is not sent again');
    assert.equal(delta.backends[0]!.serverIds, null, 'the same ids in the same order are not sent again');
    const next = across(s1, s2, held);
    assert.deepEqual(next, s2);
    assert.equal(next.version, 2);
    assert.equal(next.servers.get('w2'), held.servers.get('w2'), 'an unchanged server is the held object');
    assert.equal(next.backends.get('api'), held.backends.get('api'), 'an unchanged backend is the held object');
    assert.equal(next.backends.get('web')!.config, held.backends.get('web')!.config, 'its settings too');
    assert.equal(next.backends.get('web')!.servers[3]!.weight, 7);
  });

  it('removals and a whole new compile round-trip; a delta on the wrong base is refused', () => {
    const c = config();
    const s1 = compile(c);
    const held = across(undefined, s1, undefined);
    c.servers = c.servers.filter((x) => x.id !== 'w0');
    c.frontends = [];
    c.version = 2;
    const s2 = compile(c);
    const delta = encodeDelta(s1, s2);
    assert.deepEqual([delta.removedServers, delta.removedFrontends], [['w0'], ['fe']]);
    assert.deepEqual(across(s1, s2, held), s2);
    assert.throws(() => decodeDelta(undefined, encodeDelta(s1, s2)), /built on version 1/);
  });
});

describe('a chain of changes at scale: layered maps in the primary and the worker (issue 13 point 4)', () => {
  /** A snapshot as plain data, maps as entry lists (order counts). */
  const plain = (s: Snapshot): unknown =>
    JSON.parse(
      JSON.stringify(
        { version: s.version, f: [...s.frontends], b: [...s.backends], s: [...s.servers], c: [...s.certificates] },
        (_k, v) => (v === undefined ? null : v),
      ),
    );

  it('200 one-server changes over 700 servers: each snapshot equals compile(), in the worker too', () => {
    let state = baseConfig({ allowedNetworks: ['10.0.0.0/8'], maxServers: 5000 });
    state.backends.push(backend('web', 'http', { port: 80 }), backend('api', 'http', { port: 81 }));
    for (let i = 0; i < 700; i++) {
      const b = i % 4 === 0 ? 'api' : 'web';
      state.servers.push(server(`s${i}`, b, 80, { address: `10.${(i >> 8) & 255}.${i & 255}.1` }));
    }
    state.frontends.push(frontend('fe', 'http', 8080, 'web'));
    state.version = 1;
    let primary = compile(state);
    let worker = across(undefined, primary, undefined);
    let x = 1;
    const rnd = () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x / 2 ** 31;
    };
    let layered = 0;
    let added = 0;
    for (let n = 0; n < 200; n++) {
      const after = shallowDraft(state);
      const what = rnd();
      const i = Math.floor(rnd() * after.servers.length);
      if (what < 0.7) after.servers[i] = { ...after.servers[i]!, weight: 1 + Math.floor(rnd() * 100) };
      // Removals hit a recently added server (a layered map's tail) as often as an old one.
      else if (what < 0.85) after.servers.splice(rnd() < 0.5 ? after.servers.length - 1 - Math.floor(rnd() * 3) : i, 1);
      else {
        after.servers.push(server(`n${n}`, 'web', 80, { address: `10.200.${n & 255}.1` }));
        added++;
      }
      after.version = state.version + 1;
      const next = compileChange(state, primary, after, touched(state, after)) ?? compile(after);
      if (next.servers instanceof LayeredMap) layered++;
      const want = plain(compile(after));
      assert.deepEqual(plain(next), want, `primary, change ${n}`);
      worker = across(primary, next, worker);
      assert.deepEqual(plain(worker), want, `worker, change ${n}`);
      primary = next;
      state = after;
    }
    assert.ok(layered > 150, `${layered} of 200 snapshots layered their server map`);
    assert.ok(added > 15, `${added} servers added`);
  });
});
