import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { Migrations } from './migrations.ts';
import { SqliteStore } from './sqlite.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fulcrum-store-'));
}

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

  // Commits, events, audit, tokens, secrets and sessions are the store conformance suite's
  // (src/store/conformance.ts), run against SQLite and PostgreSQL alike from store.test.ts.
});
