import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { apiClient, get, namedHttpServer, removeDir } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { addFrontend } from './helpers/persistence-support.ts';
import { shopBackend } from './helpers/shop.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

// Foundation point 6 and API.md "Starting it": SIGTERM stops accepting, lets in-flight
// requests finish, closes the store and exits 0.
describe('graceful stop of `fulcrum serve` on SIGTERM', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'fulcrum-stop-'));
  after(() => removeDir(dataDir));

  it('finishes the in-flight request, refuses new connections, exits 0', async () => {
    const slow = await namedHttpServer('slow', 1500);
    const token = 'stop-test-token-0123456789';
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'src/cli/main.ts'), 'serve', '--api', '127.0.0.1:0', '--data-dir', dataDir, '--no-console'],
      {
        env: { ...process.env, FULCRUM_ADMIN_TOKEN: token, FULCRUM_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(() => /"apiUrl":"[^"]+"/.test(out), 20_000, 'fulcrum serve to start');
    const apiUrl = /"apiUrl":"([^"]+)"/.exec(out)?.[1] as string;
    const api = apiClient(apiUrl, token);
    const { lbId, beId } = await shopBackend(api, {}, [{ name: 's', port: slow.port }]);
    const port = await addFrontend(api, lbId, 'f', beId);

    const inFlight = get(`http://127.0.0.1:${port}/`);
    await waitFor(() => slow.count() === 1, 5000, 'the request to reach the backend');
    const t0 = Date.now();
    child.kill('SIGTERM');
    // A bound, not a wait for an event: new connections are refused within 300 ms of the
    // signal, while the in-flight request (1.5 s at the backend) is still draining.
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(get(`http://127.0.0.1:${port}/`), /ECONNREFUSED/, 'no new connections once stopping');
    const r = await inFlight;
    assert.deepEqual(r, { status: 200, body: 'slow' }, 'the in-flight request finished');
    assert.equal(await exited, 0);
    assert.ok(Date.now() - t0 < 10_000);
    assert.match(out, /fulcrum stopped/);
    await slow.close();
  });
});
