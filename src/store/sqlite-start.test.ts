import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import type { LoadBalancer } from '../config/model.ts';
import { FulcrumError } from '../core/errors.ts';
import { SqliteStore } from './sqlite.ts';
import { loadBalancerDoc, testAudit } from './test-fixtures.ts';

// Issue 14 point 4, the faults that need no mount: a corrupt database file and one written by
// a newer Fulcrum stop the start with a clear message and overwrite nothing; a database locked
// by another process answers store_unavailable naming the cause, and writes work once the
// lock is gone.

const lb = (id: string): LoadBalancer => loadBalancerDoc(id);
const audit = testAudit;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('SQLite store at start and under a lock (issue 14 point 4)', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'fulcrum-start-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a corrupt database file stops the open with a clear message and is left as it was', () => {
    const d = dir();
    const file = join(d, 'fulcrum.db');
    writeFileSync(file, Buffer.concat([Buffer.from('this is not SQLite\n'), Buffer.alloc(8192, 0xa5)]));
    const before = sha(file);
    assert.throws(
      () => SqliteStore.open(d),
      (e: unknown) => e instanceof Error && /cannot open .*fulcrum\.db: .*(not a database|corrupt)/i.test(e.message),
    );
    assert.equal(sha(file), before, 'nothing overwritten');
  });

  it('a database written by a newer Fulcrum stops the open naming the versions and is left as it was', async () => {
    const d = dir();
    const s = SqliteStore.open(d);
    await s.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a') }], deletes: [], audit });
    await s.close();
    const file = join(d, 'fulcrum.db');
    const db = new DatabaseSync(file);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(999, 'future', 'x');
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.close();
    const before = sha(file);
    assert.throws(
      () => SqliteStore.open(d),
      (e: unknown) => e instanceof Error && /schema version 999, newer than this Fulcrum knows/.test(e.message),
    );
    assert.equal(sha(file), before, 'nothing overwritten');
  });

  it('locked by another process: writes answer store_unavailable naming the cause, then work again', async () => {
    const d = dir();
    const s = SqliteStore.open(d);
    try {
      // Another process takes the write lock and holds it until told to let go.
      const holder = spawn(
        process.execPath,
        [
          '-e',
          `const { DatabaseSync } = require('node:sqlite');
           const db = new DatabaseSync(${JSON.stringify(join(d, 'fulcrum.db'))});
           db.exec('BEGIN EXCLUSIVE');
           process.stdout.write('locked\\n');
           process.stdin.once('data', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });`,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      await assert.rejects(
        s.commit({ baseVersion: 0, upserts: [{ kind: 'loadBalancer', doc: lb('a') }], deletes: [], audit }),
        (e: unknown) =>
          e instanceof FulcrumError &&
          e.code === 'store_unavailable' &&
          e.status === 503 &&
          /busy|locked/.test(e.message),
      );
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.stdin.write('go\n');
      await exited;
      const v = await s.commit({
        baseVersion: 0,
        upserts: [{ kind: 'loadBalancer', doc: lb('a') }],
        deletes: [],
        audit,
      });
      assert.equal(v, 1, 'the refused write stored nothing; the next one works');
    } finally {
      await s.close();
    }
  });
});
