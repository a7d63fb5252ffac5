import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { get, namedHttpServer, removeDir, startTestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';
import { shopYaml } from './helpers/shop.ts';

/**
 * `fulcrum serve --config FILE` (API.md "Starting it", SPEC C4): the file is applied through
 * the control plane as one change before the API answers; a bad file stops the start and
 * changes nothing.
 */

const CLI = path.resolve(import.meta.dirname, '../src/cli/main.ts');
const TOKEN = 'declarative-serve-token-0123456789';

describe('serve --config (C4)', () => {
  let dir: string;
  let backend: Awaited<ReturnType<typeof namedHttpServer>>;
  let fePort: number;
  const start = (t: TestContext, dataDir: string, configFile?: string) =>
    startTestFulcrum({ dataDir, adminToken: TOKEN, configFile, t });
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const good = () =>
    shopYaml({
      servers: [`{ name: one, address: 127.0.0.1, port: ${backend.port} }`],
      frontends: [`{ name: www, protocol: http, port: ${fePort}, backend: web }`],
    });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-decl-serve-'));
    backend = await namedHttpServer('one');
    fePort = await freePort();
  });
  after(async () => {
    await backend.close();
    removeDir(dir);
  });

  test('the file is live when the API answers, as one configVersion; a restart with it changes nothing', async (t) => {
    const dataDir = path.join(dir, 'good');
    const cfg = file('good.yaml', good());
    let f = await start(t, dataDir, cfg);
    assert.equal(f.fulcrum.control.version, 1, 'the whole file is one change');
    const [fe] = (await f.ok('GET', '/frontends')) as { name: string; status: { listening: boolean } }[];
    assert.equal(fe?.name, 'www');
    assert.equal(fe?.status.listening, true);
    assert.equal((await get(`http://127.0.0.1:${fePort}/`)).body, 'one');
    const audit = (await f.ok('GET', '/audit')) as { actor: string; action: string; resource: string }[];
    assert.deepEqual(
      audit.map((a) => [a.actor, a.action, a.resource]),
      [['config-file', 'apply', 'config/good.yaml']],
    );
    await f.stop(0);
    f = await start(t, dataDir, cfg);
    assert.equal(f.fulcrum.control.version, 1, 'a restart with the same file plans nothing');
    await f.stop(0);
    // A changed file at the next start updates (never prunes).
    f = await start(
      t,
      dataDir,
      file('good2.yaml', good().replace(`port: ${backend.port} }`, `port: ${backend.port}, weight: 7 }`)),
    );
    assert.equal(f.fulcrum.control.version, 2);
    assert.equal(f.fulcrum.control.state.servers[0]?.weight, 7);
    assert.equal(f.fulcrum.control.state.frontends.length, 1);
  });

  test('a file a rule refuses stops the start and changes nothing', async (t) => {
    const dataDir = path.join(dir, 'refused');
    const bad = good().replace('protocol: http,', 'protocol: tcp,');
    await assert.rejects(start(t, dataDir, file('f2.yaml', bad)), (err: Error) => {
      assert.match(err.message, /f2\.yaml: refused: defaultBackendId: a tcp frontend needs a tcp backend/);
      return true;
    });
    const f = await start(t, dataDir);
    assert.equal(f.fulcrum.control.version, 0);
    assert.deepEqual(f.fulcrum.control.state.loadBalancers, []);
  });

  test('fulcrum serve --config with a bad file exits non-zero with the path in the file', async (t) => {
    const dataDir = path.join(dir, 'child');
    const bad = file('bad.yaml', good().replace(`port: ${backend.port} }`, 'port: 0 }'));
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          CLI,
          'serve',
          '--api',
          '127.0.0.1:0',
          '--data-dir',
          dataDir,
          '--no-console',
          '--log-level',
          'silent',
          '--config',
          bad,
        ],
        { timeout: 20_000, env: { ...process.env, FULCRUM_ADMIN_TOKEN: TOKEN } },
        (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stderr }),
      );
    });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /bad\.yaml: loadBalancers\[0\]\.backends\[0\]\.servers\[0\]\.port: must be an integer from 1 to 65535/,
    );
    const f = await start(t, dataDir);
    assert.equal(f.fulcrum.control.version, 0, 'nothing was stored');
  });
});
