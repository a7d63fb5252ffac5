import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { decryptSecret, loadSecretKey } from '../src/certificates/secret.ts';
import { CookieSigner, serverToken } from '../src/persistence/cookie.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import { removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { addFrontend, send, sessionServer } from './helpers/persistence-support.ts';
import { shopBackend } from './helpers/shop.ts';

/**
 * Issue 10 point 5, data dir files: everything Fulcrum keeps in its data dir is readable by
 * its user only (directory 0700, files 0600, SQLite's -wal and -shm included) whatever the
 * umask or the mode of a directory that already existed, and the cookie-persistence HMAC key
 * is encrypted at rest like private keys — a plain-text key of an older data dir keeps
 * working (cookies issued before the upgrade stay valid) and is re-stored encrypted.
 */

const COOKIE_KEY = 'persistence.cookie-key';
const TOKEN = 'data-dir-security-token-0123456789';

/** name → permission bits of every entry of `dir`. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = (statSync(path.join(dir, name)).mode & 0o777).toString(8);
  return out;
}

/** The stored cookie key, read straight from the SQLite file (WAL readers see committed rows). */
function storedCookieKey(dataDir: string): string | undefined {
  const db = new DatabaseSync(path.join(dataDir, 'fulcrum.db'), { readOnly: true });
  try {
    const row = db.prepare('SELECT value FROM secrets WHERE key = ?').get(COOKIE_KEY) as { value: string } | undefined;
    return row?.value;
  } finally {
    db.close();
  }
}

describe('data dir files (issue 10)', () => {
  let root: string;
  let umask: number;
  before(() => {
    root = mkdtempSync(path.join(tmpdir(), 'fulcrum-datadir-'));
    // The common default umask: without care, SQLite would create its files 0644.
    umask = process.umask(0o022);
  });
  after(() => {
    process.umask(umask);
    removeDir(root);
  });

  it('a pre-existing 0755 dir becomes 0700 and every file in it is 0600, -wal and -shm included', async (t) => {
    const dataDir = path.join(root, 'fresh');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    writeFileSync(path.join(dataDir, 'notes.txt'), 'left here by an operator\n', { mode: 0o644 });
    // No FULCRUM_ADMIN_TOKEN and no FULCRUM_SECRET_KEY: both files are generated into the data dir.
    const saved = process.env.FULCRUM_ADMIN_TOKEN;
    delete process.env.FULCRUM_ADMIN_TOKEN;
    let f: TestFulcrum;
    try {
      f = await startTestFulcrum({ dataDir, adminToken: null, env: {}, t });
    } finally {
      if (saved !== undefined) process.env.FULCRUM_ADMIN_TOKEN = saved;
    }
    assert.equal(f.token, readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim());
    await f.ok('POST', '/load-balancers', { name: 'shop' }); // a write: the WAL holds it
    assert.equal((statSync(dataDir).mode & 0o777).toString(8), '700');
    assert.deepEqual(modes(dataDir), {
      'admin-token': '600',
      'fulcrum.db': '600',
      'fulcrum.db-shm': '600',
      'fulcrum.db-wal': '600',
      'notes.txt': '600',
      'secret-key': '600',
    });
    // The cookie key is sealed in the file, and only the data dir's key opens it.
    const sealed = storedCookieKey(dataDir) ?? '';
    assert.ok(sealed.startsWith('v1.'), `stored in clear: ${sealed}`);
    const plain = decryptSecret(sealed, loadSecretKey(dataDir, {}), COOKIE_KEY);
    assert.match(plain, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    await f.stop(0);
    assert.deepEqual(modes(dataDir), {
      'admin-token': '600',
      'fulcrum.db': '600',
      'notes.txt': '600',
      'secret-key': '600',
    });
  });

  it('a plain-text cookie key of an older data dir is sealed, and its cookies stay valid across restarts', async (t) => {
    const dataDir = path.join(root, 'older');
    const OLD = 'old-plain-cookie-key-0123456789abcdef';
    // What an older Fulcrum left: the key in clear in the secrets table, world-readable files.
    mkdirSync(dataDir, { mode: 0o755 });
    const old = SqliteStore.open(dataDir);
    await old.setSecret(COOKIE_KEY, OLD);
    await old.close();
    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'fulcrum.db'), 0o644);
    assert.equal(storedCookieKey(dataDir), OLD);

    const apps = [await sessionServer('a'), await sessionServer('b'), await sessionServer('c')];
    t.after(async () => {
      for (const s of apps) await s.close();
    });
    const f = await startTestFulcrum({ dataDir, adminToken: TOKEN, env: {}, t });
    const ok = f.ok;
    const shop = await shopBackend(ok, { persistence: { type: 'cookie', timeoutSeconds: 600 } }, apps);
    const be = shop.beId;
    const port = await addFrontend(ok, shop.lbId, 'www', be);
    // A cookie as the older Fulcrum signed it with its plain-text key, pinned to server b.
    const value = new CookieSigner([OLD]).sign(be, serverToken(be, shop.ids.get('b')!), Date.now() / 1000 + 600);
    const sticks = async () => {
      for (let i = 0; i < 6; i++) {
        const r = await send(port, { cookie: `FULCRUM_SRV=${value}` });
        assert.equal(r.body, 'b', `request ${i} left its pinned server`);
        assert.equal(r.setCookie?.some((c) => c.startsWith('FULCRUM_SRV=')) ?? false, false, 'no new cookie');
      }
    };
    await sticks();
    const sealed = storedCookieKey(dataDir) ?? '';
    assert.ok(sealed.startsWith('v1.') && !sealed.includes(OLD), `still in clear: ${sealed}`);
    assert.equal(decryptSecret(sealed, loadSecretKey(dataDir, {}), COOKIE_KEY), OLD);
    assert.equal(modes(dataDir)['fulcrum.db'], '600');
    assert.equal((statSync(dataDir).mode & 0o777).toString(8), '700');

    await f.stop(0);
    // No clear copy left in the database file either (secure_delete zeroes the old row).
    assert.equal(readFileSync(path.join(dataDir, 'fulcrum.db')).includes(OLD), false, 'plain key bytes in the file');
    await f.restart();
    await waitFor(async () => (await send(port).catch(() => undefined))?.status === 200, 5000, 'frontend back');
    await sticks();
    assert.equal(storedCookieKey(dataDir), sealed, 'read, not re-sealed, at the next start');
  });
});
