import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { LoadBalancer } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import { loadBalancerDoc, testAudit } from './test-fixtures.ts';
import { type ConfigStore, EVENTS_KEPT_PER_LOAD_BALANCER, type StoreChange } from './types.ts';

/**
 * One place a store lives during a conformance case: `open()` opens (another) store on the same
 * database — several may be open at once, as several nodes — and `cleanup()` removes it.
 */
export interface StoreFixture {
  open(): Promise<ConfigStore>;
  cleanup(): Promise<void>;
}

const lb = (id: string, name: string): LoadBalancer => loadBalancerDoc(id, name);
const audit = testAudit;
const isCode = (code: string) => (e: unknown) => e instanceof FulcrumError && e.code === code;

/**
 * The store conformance suite (C2, C5, issue 14): every ConfigStore implementation must pass
 * it (registers `it` cases in the caller's `describe`). `fixture()` makes a fresh, empty
 * database for each case. `shared` stores (PostgreSQL) also prove that a commit on one store
 * is heard by another through `watch`.
 */
export function storeConformance(fixture: () => Promise<StoreFixture>, options: { shared: boolean }): void {
  const withStore = async (fn: (open: () => Promise<ConfigStore>) => Promise<void>) => {
    const f = await fixture();
    const opened: ConfigStore[] = [];
    try {
      await fn(async () => {
        const s = await f.open();
        opened.push(s);
        return s;
      });
    } finally {
      for (const s of opened) await s.close();
      await f.cleanup();
    }
  };

  it('commits bump configVersion by exactly one; a stale base version is refused and changes nothing', () =>
    withStore(async (open) => {
      const s = await open();
      assert.equal((await s.load()).version, 0);
      assert.equal(await s.currentVersion(), 0);
      const up = (doc: LoadBalancer) => ({ kind: 'loadBalancer' as const, doc });
      assert.equal(await s.commit({ baseVersion: 0, upserts: [up(lb('a', 'A'))], deletes: [], audit }), 1);
      assert.equal(
        await s.commit({ baseVersion: 1, upserts: [up(lb('b', 'B')), up(lb('c', 'C'))], deletes: [], audit }),
        2,
      );
      await assert.rejects(
        s.commit({ baseVersion: 1, upserts: [up(lb('x', 'X'))], deletes: [], audit }),
        isCode('conflict'),
      );
      assert.equal(
        await s.commit({
          baseVersion: 2,
          upserts: [up(lb('a', 'A2'))],
          deletes: [{ kind: 'loadBalancer', id: 'b' }],
          audit,
        }),
        3,
      );
      assert.equal(await s.currentVersion(), 3);
      await s.close();
      const again = await open();
      const state = await again.load();
      assert.equal(state.version, 3);
      assert.deepEqual(
        state.loadBalancers,
        [
          { ...lb('a', 'A2'), version: 2 },
          { ...lb('c', 'C'), version: 1 },
        ],
        'insertion order kept, update in place, each with its own version',
      );
      assert.deepEqual(
        (await again.listAudit({})).map((a) => a.configVersion),
        [3, 2, 1],
      );
    }));

  it('two stores on one database never lose an update: one of two commits on the same base wins', () =>
    withStore(async (open) => {
      const a = await open();
      const b = await open();
      await a.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a', 'A') }], deletes: [], audit });
      const results = await Promise.allSettled(
        ['x', 'y'].map((id, i) =>
          (i ? b : a).commit({
            baseVersion: 1,
            upserts: [{ kind: 'loadBalancer', doc: lb(id, id) }],
            deletes: [],
            audit,
          }),
        ),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(isCode('conflict')(lost.reason));
      const state = await b.load();
      assert.equal(state.version, 2);
      assert.equal(state.loadBalancers.length, 2);
    }));

  it('keeps a version per resource: 1 when created, + 1 on each change; a stale expectation refuses the change', () =>
    withStore(async (open) => {
      const a = await open();
      const up = (doc: LoadBalancer) => ({ kind: 'loadBalancer' as const, doc });
      await a.commit({ baseVersion: 0, upserts: [up(lb('a', 'A')), up(lb('b', 'B'))], deletes: [], audit });
      // A document that carries a version (as loaded) is stored without it: the column is the truth.
      await a.commit({
        baseVersion: 1,
        upserts: [up({ ...lb('a', 'A2'), version: 99 } as LoadBalancer)],
        deletes: [],
        audit,
      });
      const versions = async (s: ConfigStore) =>
        Object.fromEntries((await s.load()).loadBalancers.map((x) => [x.id, (x as { version?: number }).version]));
      assert.deepEqual(await versions(a), { a: 2, b: 1 });
      // Another node (another store on the same database) sees the same versions.
      const b = await open();
      assert.deepEqual(await versions(b), { a: 2, b: 1 });
      // Expectations are checked inside the transaction: a stale one refuses the whole change.
      await assert.rejects(
        b.commit({
          baseVersion: 2,
          upserts: [up(lb('b', 'B2'))],
          deletes: [],
          audit,
          expect: [{ kind: 'loadBalancer', id: 'a', version: 1 }],
        }),
        (e: unknown) => isCode('precondition_failed')(e) && (e as { currentVersion: number }).currentVersion === 2,
      );
      await assert.rejects(
        b.commit({
          baseVersion: 2,
          upserts: [],
          deletes: [{ kind: 'loadBalancer', id: 'x' }],
          audit,
          expect: [{ kind: 'loadBalancer', id: 'x', version: 1 }],
        }),
        isCode('precondition_failed'),
      );
      assert.equal(await b.currentVersion(), 2);
      assert.equal(
        await b.commit({
          baseVersion: 2,
          upserts: [up(lb('a', 'A3'))],
          deletes: [{ kind: 'loadBalancer', id: 'b' }],
          audit,
          expect: [
            { kind: 'loadBalancer', id: 'a', version: 2 },
            { kind: 'loadBalancer', id: 'b', version: 1 },
          ],
        }),
        3,
      );
      assert.deepEqual(await versions(a), { a: 3 });
      // Deleted and created again: a new resource, version 1.
      await a.commit({ baseVersion: 3, upserts: [up(lb('b', 'B'))], deletes: [], audit });
      assert.deepEqual(await versions(b), { a: 3, b: 1 });
    }));

  it('keeps audit rows, stamped with the current configVersion, filtered by resource', () =>
    withStore(async (open) => {
      const s = await open();
      await s.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a', 'A') }], deletes: [], audit });
      await s.appendAudit({
        ...audit,
        action: 'sign-in',
        resource: 'session',
        before: undefined,
        after: { token: 'x' },
      });
      const rows = await s.listAudit({});
      assert.equal(rows.length, 2);
      assert.deepEqual(rows[0], {
        ...rows[0],
        action: 'sign-in',
        configVersion: 1,
        before: null,
        after: { token: 'x' },
      });
      assert.equal((await s.listAudit({ resource: 'session' })).length, 1);
      assert.equal((await s.listAudit({ limit: 1 })).length, 1);
    }));

  it('keeps the newest events per load balancer and filters them', () =>
    withStore(async (open) => {
      const s = await open();
      const ev = (i: number, lbId: string | null): FulcrumEvent => ({
        at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
        kind: i % 2 ? 'health' : 'config',
        loadBalancerId: lbId,
        backendId: 'be',
        serverId: `s${i % 3}`,
        from: null,
        to: null,
        reason: null,
      });
      const many = Array.from({ length: EVENTS_KEPT_PER_LOAD_BALANCER + 25 }, (_, i) => ev(i, 'lb1'));
      const stored = await s.appendEvents(many);
      assert.equal(stored.length, many.length);
      assert.ok(
        stored.every((e, i) => i === 0 || e.id > stored[i - 1]!.id),
        'ids grow',
      );
      await s.appendEvents([ev(1, 'lb2'), ev(2, null)]);
      assert.deepEqual(await s.appendEvents([]), []);
      const lb1 = await s.listEvents({ loadBalancerId: 'lb1', limit: 10_000 });
      assert.equal(lb1.length, EVENTS_KEPT_PER_LOAD_BALANCER);
      assert.equal(lb1[0]!.at, many.at(-1)!.at, 'newest first, newest kept');
      assert.equal((await s.listEvents({ loadBalancerId: 'lb2' })).length, 1, 'other load balancers untouched');
      assert.equal((await s.listEvents({ kind: 'config', backendId: 'be', limit: 10_000 })).length > 0, true);
      const health = await s.listEvents({ kind: 'health', serverId: 's1', limit: 5 });
      assert.equal(health.length, 5);
      assert.ok(health.every((e) => e.kind === 'health' && e.serverId === 's1'));
      const since = await s.listEvents({ sinceId: lb1[1]!.id });
      assert.ok(since.length > 0 && since.every((e) => e.id > lb1[1]!.id));
      assert.ok((await s.listEvents({ sinceAt: many.at(-2)!.at })).every((e) => e.at > many.at(-2)!.at));
    }));

  it('stores tokens (hash only), secrets and the nodes table', () =>
    withStore(async (open) => {
      const s = await open();
      await s.createToken({ id: 't1', name: 'ci', role: 'viewer', secretSha256: 'ab'.repeat(32), createdAt: audit.at });
      await assert.rejects(
        s.createToken({ id: 't2', name: 'ci', role: 'admin', secretSha256: 'cd'.repeat(32), createdAt: audit.at }),
        isCode('conflict'),
      );
      assert.deepEqual(await s.listTokens(), [
        { id: 't1', name: 'ci', role: 'viewer', secretSha256: 'ab'.repeat(32), createdAt: audit.at },
      ]);
      assert.equal(await s.deleteToken('t1'), true);
      assert.equal(await s.deleteToken('t1'), false);
      assert.equal(await s.getSecret('cookie-hmac'), undefined);
      await s.setSecret('cookie-hmac', 'k1');
      await s.setSecret('cookie-hmac', 'k2');
      assert.equal(await s.getSecret('cookie-hmac'), 'k2');
      await s.heartbeat({ name: 'b', appliedVersion: 0, lastSeen: audit.at });
      await s.heartbeat({ name: 'a', appliedVersion: 1, lastSeen: audit.at });
      await s.heartbeat({ name: 'b', appliedVersion: 2, lastSeen: '2026-01-01T00:00:05.000Z' });
      assert.deepEqual(await s.listNodes(), [
        { name: 'a', appliedVersion: 1, lastSeen: audit.at },
        { name: 'b', appliedVersion: 2, lastSeen: '2026-01-01T00:00:05.000Z' },
      ]);
    }));

  it('stores a secret only when absent, and every concurrent caller reads the one stored', () =>
    withStore(async (open) => {
      const stores = [await open(), await open()];
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => stores[i % 2]!.createSecretIfAbsent('cookie-key', `value-${i}`)),
      );
      assert.equal(new Set(answers).size, 1, `one value for everyone: ${answers.join(', ')}`);
      assert.equal(await stores[1]!.getSecret('cookie-key'), answers[0]);
      assert.equal(await stores[0]!.createSecretIfAbsent('cookie-key', 'later'), answers[0], 'never replaced');
    }));

  it('keeps console sessions (hash only) until they expire, are signed out, or their token is revoked', () =>
    withStore(async (open) => {
      const a = await open();
      const b = await open();
      const now = Date.parse(audit.at);
      await a.createToken({ id: 't1', name: 'ci', role: 'viewer', secretSha256: 'ab'.repeat(32), createdAt: audit.at });
      await a.createSession({ idSha256: '01'.repeat(32), tokenId: 't1', expiresAt: now + 60_000 }, now);
      await a.createSession({ idSha256: '02'.repeat(32), tokenId: 'admin', expiresAt: now + 60_000 }, now);
      await a.createSession({ idSha256: '03'.repeat(32), tokenId: 'admin', expiresAt: now - 1 }, now);
      const ids = async (s: ConfigStore) => (await s.listSessions(now)).map((x) => x.idSha256).sort();
      assert.deepEqual(await ids(b), ['01'.repeat(32), '02'.repeat(32)], 'every store sees them; expired ones never');
      assert.deepEqual(
        (await b.listSessions(now)).find((x) => x.tokenId === 't1'),
        {
          idSha256: '01'.repeat(32),
          tokenId: 't1',
          expiresAt: now + 60_000,
        },
      );
      assert.equal(await b.deleteSession('02'.repeat(32)), true);
      assert.equal(await b.deleteSession('02'.repeat(32)), false);
      assert.equal(await b.deleteToken('t1'), true);
      assert.deepEqual(await ids(a), [], "a revoked token's sessions end with it");
    }));

  if (options.shared) {
    it('a commit or a token change on one store is heard by every store watching (NOTIFY)', () =>
      withStore(async (open) => {
        const a = await open();
        const b = await open();
        const heard: StoreChange[] = [];
        const stop = b.watch((c) => heard.push(c));
        await a.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a', 'A') }], deletes: [], audit });
        await a.createToken({
          id: 't1',
          name: 'ci',
          role: 'viewer',
          secretSha256: 'ab'.repeat(32),
          createdAt: audit.at,
        });
        await a.createSession({ idSha256: '01'.repeat(32), tokenId: 't1', expiresAt: Date.now() + 60_000 }, Date.now());
        await a.deleteSession('01'.repeat(32));
        for (let i = 0; i < 100 && heard.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(heard, [
          { kind: 'config', version: 1 },
          { kind: 'tokens' },
          { kind: 'tokens' },
          { kind: 'tokens' },
        ]);
        stop();
      }));
  }
}
