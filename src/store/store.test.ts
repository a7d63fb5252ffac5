import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { storeConformance } from './conformance.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import { createTestDatabase } from './test-support.ts';

// One conformance suite, run against both stores (issue 14).
describe('store conformance: SQLite', () => {
  storeConformance(
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fulcrum-store-'));
      return {
        open: async () => SqliteStore.open(dir),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
    { shared: false },
  );
});

describe('store conformance: PostgreSQL (127.0.0.1:5432)', () => {
  storeConformance(
    async () => {
      const db = await createTestDatabase();
      return { open: () => PostgresStore.open(db.url), cleanup: () => db.drop() };
    },
    { shared: true },
  );
});
