import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LoadBalancer } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import { SqliteStore } from './sqlite.ts';
import { loadBalancerDoc, testAudit } from './test-fixtures.ts';

// Issue 14 point 4 with the real faults: a small tmpfs mounted here (tests run as root) fills
// up, then is remounted read-only. Every store fault answers `store_unavailable` naming the
// cause, nothing half-written is stored, and writes work again once the fault is gone.
const root = process.getuid?.() === 0;

const lb = (id: string, description = ''): LoadBalancer => loadBalancerDoc(id, id, description);
const audit = testAudit;
const unavailable = (cause: RegExp) => (e: unknown) =>
  e instanceof FulcrumError && e.code === 'store_unavailable' && e.status === 503 && cause.test(e.message);

describe('SQLite store faults answer store_unavailable (issue 14)', {
  skip: !root && 'needs root to mount a tmpfs',
}, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-fault-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
  });
  after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('disk full: 503 naming the cause, nothing half-written, writes work again once space is freed', async () => {
    const s = SqliteStore.open(join(dir, 'data'));
    try {
      await s.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a') }], deletes: [], audit });
      // Fill the file system, leaving the database almost no room.
      const filler = join(dir, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(4 * 1024 * 1024));
      } catch {
        // ENOSPC: the file holds what fitted
      }
      const big = 'x'.repeat(512 * 1024);
      let err: unknown;
      for (let v = 1; v < 20 && !err; v++) {
        try {
          await s.commit({
            baseVersion: v,
            upserts: [{ kind: 'loadBalancer', doc: lb(`b${v}`, big) }],
            deletes: [],
            audit,
          });
        } catch (e) {
          err = e;
        }
      }
      assert.ok(unavailable(/^store-unavailable: disk full/)(err), String(err));
      const before = await s.load();
      assert.ok(
        before.loadBalancers.every((l) => l.id === 'a' || l.description === big),
        'nothing half-written',
      );
      rmSync(filler);
      const v = await s.commit({
        baseVersion: before.version,
        upserts: [{ kind: 'loadBalancer', doc: lb('c') }],
        deletes: [],
        audit,
      });
      assert.equal(v, before.version + 1);
    } finally {
      await s.close();
    }
  });

  it('read-only file system: the store refuses to open naming the cause, overwriting nothing; opens after remount', async () => {
    // Linux refuses to remount read-only while a file is open for writing, so the fault is met at open.
    const s = SqliteStore.open(join(dir, 'ro'));
    await s.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a') }], deletes: [], audit });
    await s.close();
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    try {
      assert.throws(
        () => SqliteStore.open(join(dir, 'ro')),
        (e: unknown) => e instanceof Error && /read-only/i.test(e.message),
      );
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', dir]);
    }
    const again = SqliteStore.open(join(dir, 'ro'));
    try {
      assert.equal((await again.load()).version, 1);
      assert.equal(
        await again.commit({ baseVersion: 1, upserts: [{ kind: 'loadBalancer', doc: lb('b') }], deletes: [], audit }),
        2,
      );
    } finally {
      await again.close();
    }
  });
});
