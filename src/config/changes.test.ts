import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffTouched, shallowDraft, touched } from './changes.ts';
import { compileChange } from './compile-incremental.ts';
import { diffStates } from './diff.ts';
import { type ConfigState, emptyConfig, type Server } from './model.ts';
import { buildBackend, buildFrontend, buildLoadBalancer, buildServer, mergeBackend, mergeServer } from './resources.ts';
import { compile, type Snapshot } from './snapshot.ts';
import { advanceServerIndex, changeConfigProblems, configProblems } from './validate.ts';

/** A small deterministic PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function base(servers: number, maxServers: number): ConfigState {
  const c = emptyConfig();
  c.loadBalancers.push(buildLoadBalancer({ name: 'lb', allowedNetworks: ['10.0.0.0/8'], maxServers }, 'lb1'));
  c.backends.push(buildBackend({ loadBalancerId: 'lb1', name: 'web', mode: 'http', port: 80 }, 'b1'));
  c.backends.push(buildBackend({ loadBalancerId: 'lb1', name: 'api', mode: 'http', port: null }, 'b2'));
  c.frontends.push(
    buildFrontend({ loadBalancerId: 'lb1', name: 'www', protocol: 'http', port: 8080, defaultBackendId: 'b1' }, 'f1'),
  );
  for (let i = 0; i < servers; i++) {
    const b = i % 3 === 0 ? 'b2' : 'b1';
    c.servers.push(buildServer({ name: `s${i}`, address: `10.0.0.${i + 1}`, port: 80 + (i % 2) }, b, c, `s${i}`));
  }
  return c;
}

/** One random server change: often a clash (same name, same endpoint), a bad value, a quota overflow. */
function randomChange(draft: ConfigState, r: () => number, n: number): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const names = ['s1', 's2', 's3', 'new', 'S1', 'é', 'e\u0301', 'a/b', ''];
  const addresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '192.168.1.1', '127.0.0.1', '10.0.0.300', '10.0.0.9'];
  const ports = [80, 81, null, 0, 443];
  const steps = 1 + Math.floor(r() * 3);
  for (let k = 0; k < steps; k++) {
    const what = r();
    if (what < 0.35 && draft.servers.length > 0) {
      const i = Math.floor(r() * draft.servers.length);
      const patch: Record<string, unknown> = {};
      if (r() < 0.5) patch.name = pick(names);
      if (r() < 0.5) patch.address = pick(addresses);
      if (r() < 0.4) patch.port = pick(ports);
      if (r() < 0.3) patch.weight = pick([1, 50, -1, 1000]);
      draft.servers[i] = mergeServer(draft.servers[i] as Server, patch);
    } else if (what < 0.7) {
      const body = { name: pick(names), address: pick(addresses), port: pick(ports) };
      draft.servers.push(buildServer(body, pick(['b1', 'b2', 'nope']), draft, `n${n}-${k}`));
    } else if (what < 0.85 && draft.servers.length > 0) {
      draft.servers.splice(Math.floor(r() * draft.servers.length), 1);
    } else {
      const f = draft.frontends[0];
      if (f) draft.frontends[0] = { ...f, port: pick([8080, 8081, 70000]) };
    }
  }
}

describe('incremental validation and diff (issue 13 point 4)', () => {
  it('answers the same problems and diff as the whole configuration, on many random changes', () => {
    const r = rng(13);
    let compared = 0;
    let refused = 0;
    for (let n = 0; n < 600; n++) {
      const before = base(2 + Math.floor(r() * 8), 4 + Math.floor(r() * 12));
      if (configProblems(before).length > 0) continue;
      const after = shallowDraft(before);
      randomChange(after, r, n);
      const t = touched(before, after);
      const whole = configProblems(after, { before });
      const part = changeConfigProblems(before, after, t, undefined);
      assert.ok(part, 'a server or frontend change is validated incrementally');
      assert.deepEqual(
        part.map((e) => [e.code, e.field, e.message]),
        whole.map((e) => [e.code, e.field, e.message]),
        `change ${n}`,
      );
      assert.deepEqual(diffTouched(t), diffStates(before, after), `diff of change ${n}`);
      compared++;
      if (whole.length > 0) refused++;
    }
    assert.ok(refused > 100, `${refused} changes refused`);
    assert.ok(compared > 500, `${compared} changes compared`);
  });

  it('stays equal over a chain of changes, the index following each accepted one', () => {
    const r = rng(99);
    let state = base(40, 60);
    let accepted = 0;
    for (let n = 0; n < 800; n++) {
      const after = shallowDraft(state);
      randomChange(after, r, n);
      const t = touched(state, after);
      const whole = configProblems(after, { before: state });
      const part = changeConfigProblems(state, after, t, undefined);
      assert.ok(part);
      assert.deepEqual(
        part.map((e) => e.message),
        whole.map((e) => e.message),
        `change ${n}`,
      );
      if (whole.length === 0) {
        advanceServerIndex(state, after, t);
        state = after;
        accepted++;
      }
    }
    assert.ok(accepted > 100, `${accepted} changes accepted`);
  });

  it('leaves changes of backends, load balancers, instances and certificates to the whole validation', () => {
    const before = base(3, 10);
    const after = shallowDraft(before);
    after.backends[0] = { ...(after.backends[0] as ConfigState['backends'][0]), port: 8080 };
    assert.equal(changeConfigProblems(before, after, touched(before, after), undefined), undefined);
  });

  it('finds a one-server change among many by reference', () => {
    const before = base(2000, 5000);
    const after = shallowDraft(before);
    after.servers[1000] = mergeServer(after.servers[1000] as Server, { weight: 7 });
    const t = touched(before, after);
    assert.equal(t.after.server.length, 1);
    assert.deepEqual(diffTouched(t), diffStates(before, after));
  });
});

/** A snapshot as plain data, maps as entry lists (order counts). */
function plain(s: Snapshot): unknown {
  return JSON.parse(
    JSON.stringify(
      { version: s.version, f: [...s.frontends], b: [...s.backends], s: [...s.servers], c: [...s.certificates] },
      (_k, v) => (v === undefined ? null : v),
    ),
  );
}

describe('incremental compile (issue 13 point 4)', () => {
  it('builds the same snapshot as compile() on many random changes, reusing what did not change', () => {
    const r = rng(7);
    let incremental = 0;
    for (let n = 0; n < 400; n++) {
      const before = base(3 + Math.floor(r() * 10), 1000);
      before.frontends.push(
        buildFrontend(
          {
            loadBalancerId: 'lb1',
            name: 'api',
            protocol: 'http',
            port: 8081,
            defaultBackendId: 'b2',
            rules: [{ match: { pathPrefix: '/x' }, backendId: 'b1' }],
          },
          'f2',
        ),
      );
      const previous = compile(before);
      const after = shallowDraft(before);
      randomChange(after, r, n);
      if (r() < 0.3) after.backends[1] = mergeBackend(after.backends[1] as ConfigState['backends'][0], { port: 9000 });
      if (r() < 0.1) after.backends.push(buildBackend({ loadBalancerId: 'lb1', name: `x${n}`, port: 1 }, `bx${n}`));
      after.version = before.version + 1;
      const t = touched(before, after);
      const next = compileChange(before, previous, after, t);
      if (!next) continue;
      incremental++;
      assert.deepEqual(plain(next), plain(compile(after)), `change ${n}`);
      for (const [id, spec] of next.servers) {
        const touchedIds = new Set([...t.after.server, ...t.before.server].map((d) => d.id));
        if (!touchedIds.has(id) && t.after.backend.length === 0) assert.equal(spec, previous.servers.get(id), id);
      }
    }
    assert.ok(incremental > 300, `${incremental} incremental compiles`);
  });

  it('reuses unchanged backends and frontends by reference', () => {
    const before = base(1000, 5000);
    before.backends.push(buildBackend({ loadBalancerId: 'lb1', name: 'other', port: 80 }, 'b3'));
    const previous = compile(before);
    const after = shallowDraft(before);
    after.servers[10] = mergeServer(after.servers[10] as Server, { weight: 9 });
    after.version = 1;
    const next = compileChange(before, previous, after, touched(before, after));
    assert.ok(next);
    const changed = (after.servers[10] as Server).backendId;
    assert.equal(next.backends.get('b3'), previous.backends.get('b3'));
    assert.notEqual(next.backends.get(changed), previous.backends.get(changed));
    assert.equal(next.servers.get('s11'), previous.servers.get('s11'));
    assert.equal(next.servers.get('s10')?.weight, 9);
    assert.equal(next.frontends.get('f1')?.defaultBackend, next.backends.get('b1'));
    assert.deepEqual(plain(next), plain(compile(after)));
  });
});
