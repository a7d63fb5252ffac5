import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import type { LoadBalancer } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import { Migrations } from './migrations.ts';
import { SqliteStore } from './sqlite.ts';
import { loadBalancerDoc, testAudit } from './test-fixtures.ts';
import { EVENTS_KEPT_PER_LOAD_BALANCER } from './types.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fulcrum-store-'));
}

const lb = (id: string, name: string): LoadBalancer => loadBalancerDoc(id, name);
const audit = testAudit;

describe('SqliteStore (C2)', () => {
  it('migrates once, uses WAL, and records the schema version', async () => {
    const dir = tempDir();
    try {
      const s = SqliteStore.open(dir);
      await s.close();
      const s2 = SqliteStore.open(dir);
      await s2.close();
      const db = new DatabaseSync(join(dir, 'fulcrum.db'));
      const rows = db.prepare('SELECT version FROM schema_migrations').all();
      assert.equal(rows.length, Migrations.length);
      assert.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('commits bump configVersion by exactly one; a stale base version is refused and changes nothing', async () => {
    const dir = tempDir();
    try {
      const s = SqliteStore.open(dir);
      assert.equal((await s.load()).version, 0);
      assert.equal(
        await s.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a', 'A') }], deletes: [], audit }),
        1,
      );
      assert.equal(
        await s.commit({ baseVersion: 1, upserts: [{ kind: 'loadBalancer', doc: lb('b', 'B') }], deletes: [], audit }),
        2,
      );
      await assert.rejects(
        s.commit({ baseVersion: 1, upserts: [{ kind: 'loadBalancer', doc: lb('c', 'C') }], deletes: [], audit }),
        (e: unknown) => e instanceof FulcrumError && e.code === 'conflict',
      );
      assert.equal(
        await s.commit({
          baseVersion: 2,
          upserts: [{ kind: 'loadBalancer', doc: { ...lb('a', 'A2') } }],
          deletes: [{ kind: 'loadBalancer', id: 'b' }],
          audit,
        }),
        3,
      );
      await s.close();
      const again = SqliteStore.open(dir);
      const state = await again.load();
      assert.equal(state.version, 3);
      // The per-resource version (issue 15, ETag): 1 when created, 2 after its update.
      assert.deepEqual(
        state.loadBalancers,
        [{ ...lb('a', 'A2'), version: 2 }],
        'update kept, delete applied, stale change absent',
      );
      assert.equal((await again.listAudit({})).length, 3);
      assert.deepEqual(
        (await again.listAudit({})).map((a) => a.configVersion),
        [3, 2, 1],
      );
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the newest events per load balancer and filters them', async () => {
    const dir = tempDir();
    try {
      const s = SqliteStore.open(dir);
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
      await s.appendEvents(many);
      await s.appendEvents([ev(1, 'lb2'), ev(2, null)]);
      const lb1 = await s.listEvents({ loadBalancerId: 'lb1', limit: 10_000 });
      assert.equal(lb1.length, EVENTS_KEPT_PER_LOAD_BALANCER);
      assert.equal(lb1[0]!.at, many.at(-1)!.at, 'newest first, newest kept');
      assert.equal((await s.listEvents({ loadBalancerId: 'lb2' })).length, 1, 'other load balancers untouched');
      const health = await s.listEvents({ kind: 'health', serverId: 's1', limit: 5 });
      assert.equal(health.length, 5);
      assert.ok(health.every((e) => e.kind === 'health' && e.serverId === 's1'));
      const since = await s.listEvents({ sinceId: lb1[1]!.id });
      assert.ok(since.every((e) => e.id > lb1[1]!.id));
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stores tokens (hash only) and secrets', async () => {
    const dir = tempDir();
    try {
      const s = SqliteStore.open(dir);
      await s.createToken({ id: 't1', name: 'ci', role: 'viewer', secretSha256: 'ab'.repeat(32), createdAt: audit.at });
      await assert.rejects(
        s.createToken({ id: 't2', name: 'ci', role: 'admin', secretSha256: 'cd'.repeat(32), createdAt: audit.at }),
        (e: unknown) => e instanceof FulcrumError && e.code === 'conflict',
      );
      assert.deepEqual(
        (await s.listTokens()).map((t) => t.name),
        ['ci'],
      );
      assert.equal(await s.deleteToken('t1'), true);
      assert.equal(await s.deleteToken('t1'), false);
      assert.equal(await s.getSecret('cookie-hmac'), undefined);
      await s.setSecret('cookie-hmac', 'k1');
      await s.setSecret('cookie-hmac', 'k2');
      assert.equal(await s.getSecret('cookie-hmac'), 'k2');
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
