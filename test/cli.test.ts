import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { type Json, removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';

/**
 * The CLI as operators use it (issue 16 point 2), end to end: the whole product in this
 * process, `fulcrum` as child processes talking to its API over loopback. Tables, `-o
 * json|yaml|wide`, resources by path of names, exit codes and one-line errors, events from
 * the SSE stream, `--watch`, `top`, `lookup`, tokens and completion scripts.
 */

const CLI = path.resolve(import.meta.dirname, '../src/cli/main.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a child: this one without FULCRUM_*, colour settings or a TTY. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('FULCRUM_') && k !== 'NO_COLOR' && k !== 'FORCE_COLOR') env[k] = v;
  }
  return { ...env, ...extra };
}

describe('fulcrum CLI: names, tables, outputs, exit codes (issue 16)', () => {
  let f: TestFulcrum;
  let dir: string;
  let env: Record<string, string>;
  const ids: Record<string, string> = {};
  const children: ChildProcess[] = [];

  /** Runs `fulcrum ARGS` against the test's Fulcrum (env: FULCRUM_URL, FULCRUM_TOKEN). */
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        { timeout: 20_000, env: childEnv({ ...env, ...extra }), cwd: dir },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  /** Starts a long-running `fulcrum ARGS` (killed in `after`); its output accumulates. */
  const start = (args: string[]) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: childEnv(env), cwd: dir });
    children.push(child);
    const out = { stdout: '', stderr: '', child };
    child.stdout.on('data', (d) => {
      out.stdout += d;
    });
    child.stderr.on('data', (d) => {
      out.stderr += d;
    });
    return out;
  };

  const server = (name: string) => f.ok('GET', `/backends/${ids.web}/servers/${ids[name]}`);

  before(async () => {
    f = await startTestFulcrum();
    dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-cli-'));
    env = { FULCRUM_URL: f.url, FULCRUM_TOKEN: f.token };
    const lb = await f.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    const other = await f.ok('POST', '/load-balancers', { name: 'other', allowedNetworks: ['127.0.0.0/8'] });
    const off = { enabled: false };
    const web = await f.ok('POST', '/backends', {
      loadBalancerId: lb.id,
      name: 'web',
      mode: 'http',
      algorithm: 'weighted-round-robin',
      port: 9001,
      healthCheck: off,
    });
    await f.ok('POST', '/backends', {
      loadBalancerId: other.id,
      name: 'web',
      mode: 'http',
      port: 9001,
      healthCheck: off,
    });
    ids.shop = lb.id;
    ids.web = web.id;
    for (const n of [1, 2, 3]) {
      const s = await f.ok('POST', `/backends/${web.id}/servers`, {
        name: `web-${n}`,
        serverType: 'web',
        address: '127.0.0.1',
        port: 9000 + n,
        weight: n,
      });
      ids[`web-${n}`] = s.id;
    }
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await f.close();
    removeDir(dir);
  });

  test('get servers LB/BACKEND: a table with the console columns, no colour when not a terminal', async () => {
    const r = await cli(['get', 'servers', 'shop/web']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+ADDRESS\s+WEIGHT\s+SHARE\s+HEALTH\s+STATE\s+CONNECTIONS$/);
    assert.equal(lines.length, 4);
    // weights 1:2:3 → expected shares 17 / 33 / 50 % (issue 15; checks are off, every server is available)
    assert.match(lines[3]!, /^web-3\s+127\.0\.0\.1:9003\s+3\s+50 %\s+\S+\s+active\s+0$/);
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colour on a pipe');
    // -o wide adds columns; the ids are there.
    const wide = await cli(['get', 'servers', 'shop/web', '-o', 'wide']);
    assert.match(wide.stdout.split('\n')[0]!, /TYPE\s+ZONE\s+TAGS\s+PASSIVE.*\bID$/);
    assert.ok(wide.stdout.includes(ids['web-1']!));
    // FORCE_COLOR colours health and state; NO_COLOR alone keeps it plain.
    const coloured = await cli(['get', 'servers', 'shop/web'], { FORCE_COLOR: '1' });
    assert.match(coloured.stdout, /\x1b\[32mactive\x1b\[0m/);
    const plain = await cli(['get', 'servers', 'shop/web'], { NO_COLOR: '1' });
    assert.doesNotMatch(plain.stdout, /\x1b\[/);
  });

  test('get load-balancers, backends LB, frontends: tables; every server of every backend with its path', async () => {
    const lbs = await cli(['get', 'load-balancers']);
    assert.equal(lbs.code, 0, lbs.stderr);
    assert.match(lbs.stdout, /^NAME\s+FRONTENDS\s+BACKENDS\s+SERVERS\s+HEALTH/);
    assert.match(lbs.stdout, /\nshop\s+0\s+1\s+3\/492\s+/);
    const bes = await cli(['get', 'backends', 'shop']);
    assert.match(bes.stdout, /^NAME\s+MODE\s+METHOD\s+PORT\s+SERVERS\s+HEALTH\n/);
    assert.match(bes.stdout, /\nweb\s+http\s+weighted-round-robin\s+9001\s+3\s+/);
    assert.equal(bes.stdout.trimEnd().split('\n').length, 2, 'only the backends of shop');
    const all = await cli(['get', 'servers']);
    assert.match(all.stdout, /^BACKEND\s+NAME\s+ADDRESS/);
    assert.match(all.stdout, /\nshop\/web\s+web-2\s+127\.0\.0\.1:9002/);
    const fes = await cli(['get', 'frontends']);
    assert.equal(fes.code, 0, fes.stderr);
    assert.match(fes.stdout, /^NAME\s+PROTOCOL\s+ADDRESS\s+DEFAULT BACKEND\s+STATUS\n/);
  });

  test('-o json is the API answer; -o yaml the same data', async () => {
    const json = await cli(['get', 'servers', 'shop/web', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout) as Json[];
    assert.deepEqual(
      list.map((s) => s.id),
      [ids['web-1'], ids['web-2'], ids['web-3']],
    );
    const yaml = await cli(['get', 'servers', 'shop/web', '-o', 'yaml']);
    assert.deepEqual(parseYaml(yaml.stdout), list);
    const one = await cli(['get', 'servers', 'shop/web/web-2', '-o', 'json']);
    assert.equal(JSON.parse(one.stdout).id, ids['web-2']);
    const lb = await cli(['get', 'lb', 'shop', '-o', 'yaml']);
    assert.equal(parseYaml(lb.stdout).id, ids.shop);
  });

  test('server drain LB/BACKEND/SERVER by names; enable by id; the older BACKEND SERVER form', async () => {
    const drain = await cli(['server', 'drain', 'shop/web/web-3']);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout, /^server shop\/web\/web-3 draining .*configVersion \d+\n$/);
    assert.equal((await server('web-3')).enabled, false);
    const enable = await cli(['server', 'enable', ids['web-3']!, '-o', 'json']);
    assert.equal(enable.code, 0, enable.stderr);
    assert.equal(JSON.parse(enable.stdout).enabled, true);
    assert.equal((await server('web-3')).enabled, true);
    const old = await cli(['server', 'disable', ids.web!, 'web-2']);
    assert.equal(old.code, 0, old.stderr);
    assert.equal((await server('web-2')).enabled, false);
    await cli(['server', 'enable', 'shop/web', 'web-2']);
    assert.equal((await server('web-2')).enabled, true);
    const update = await cli(['server', 'update', 'shop/web/web-1', 'weight=4']);
    assert.equal(update.code, 0, update.stderr);
    assert.equal((await server('web-1')).weight, 4);
    const add = await cli([
      'server',
      'add',
      'shop/web',
      'name=web-9',
      'serverType=web',
      'address=127.0.0.9',
      'port=9009',
    ]);
    assert.equal(add.code, 0, add.stderr);
    const remove = await cli(['server', 'remove', 'shop/web/web-9']);
    assert.equal(remove.code, 0, remove.stderr);
    assert.match(remove.stdout, /server shop\/web\/web-9 removed/);
  });

  test('a name that matches nothing or several: one line naming it, exit 4, nothing changed', async () => {
    const before = await f.ok('GET', '/load-balancers');
    const none = await cli(['server', 'drain', 'shop/web/web-7']);
    assert.equal(none.code, 4);
    assert.equal(none.stderr, 'fulcrum: no server named "web-7" in backend "shop/web"\n');
    const noLb = await cli(['get', 'servers', 'shoop/web']);
    assert.equal(noLb.code, 4);
    assert.equal(noLb.stderr, 'fulcrum: no load balancer named "shoop"\n');
    // "web" is a backend of shop and of other: ambiguous without its load balancer.
    const several = await cli(['server', 'drain', 'web/web-1']);
    assert.equal(several.code, 4);
    assert.match(several.stderr, /^fulcrum: "web" names 2 backends .*LB\/… path or an id.*\n$/);
    const tooLong = await cli(['server', 'drain', 'a/b/c/d']);
    assert.equal(tooLong.code, 4);
    assert.match(tooLong.stderr, /expected LB\/BACKEND\/SERVER/);
    assert.equal((await server('web-1')).enabled, true);
    assert.deepEqual(await f.ok('GET', '/load-balancers'), before);
  });

  test('exit codes: 1 refused (field and rule), 2 usage, 3 API unreachable; each error one line', async () => {
    const refused = await cli(['server', 'update', 'shop/web/web-1', 'weight=1000']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^fulcrum: 400 \S+: weight: .+\n$/);
    assert.equal((await server('web-1')).weight, 4, 'nothing changed');
    const badFormat = await cli(['get', 'servers', '-o', 'xml']);
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.stderr, /argument 'xml' is invalid/);
    assert.ok(badFormat.stderr.trimEnd().split('\n').length <= 3, badFormat.stderr);
    assert.equal((await cli(['get'])).code, 2);
    assert.equal((await cli(['no-such-command'])).code, 2);
    // --workers is bounded before anything starts (issue 13 point 1)
    const tooMany = await cli(['serve', '--workers', '257']);
    assert.equal(tooMany.code, 2);
    assert.match(tooMany.stderr, /--workers: must be at most 256/);
    const none = await cli(['serve', '--workers', '0']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--workers: must be a whole number of at least 1/);
    const noField = await cli(['server', 'update', 'shop/web/web-1', 'weight']);
    assert.equal(noField.code, 2, 'a second word without "=" is a server name: nothing to change');
    assert.equal(noField.stderr, 'fulcrum: nothing to change: give field=value pairs\n');
    const noToken = await cli(['get', 'servers', '--data-dir', dir], { FULCRUM_TOKEN: '' });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /^fulcrum: no token: pass --token/);
    const wrongToken = await cli(['get', 'servers'], { FULCRUM_TOKEN: 'wrong-token-0123456789' });
    assert.equal(wrongToken.code, 1);
    assert.match(wrongToken.stderr, /^fulcrum: 401 /);
    const port = await freePort();
    const unreachable = await cli(['get', 'servers', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(unreachable.code, 3);
    assert.equal(
      unreachable.stderr,
      `fulcrum: cannot reach the API at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });

  test('events: the recent ones as a table; --follow prints a change as it happens (SSE)', async () => {
    const list = await cli(['events', '--backend', 'shop/web']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^AT\s+KIND\s+RESOURCE\s+CHANGE\s+REASON\n/);
    assert.match(list.stdout, /config\s+shop\/web\/web-3\s/);
    const follow = start(['events', '--follow', '--backend', 'shop/web', '--limit', '1']);
    await waitFor(() => follow.stdout.includes('\n'), 15_000);
    await f.ok('PATCH', `/backends/${ids.web}/servers/${ids['web-2']}`, { weight: 7 });
    await waitFor(() => /config\s+shop\/web\/web-2\s/.test(follow.stdout.split('\n').slice(1).join('\n')), 15_000);
    // Another backend's change does not show.
    assert.doesNotMatch(follow.stdout, /other\//);
    const json = start(['events', '-f', '-o', 'json', '--server', 'shop/web/web-1', '--limit', '1']);
    await waitFor(() => json.stdout.includes('\n'), 15_000);
    await f.ok('PATCH', `/backends/${ids.web}/servers/${ids['web-1']}`, { weight: 5 });
    await waitFor(() => json.stdout.trimEnd().split('\n').length >= 2, 15_000);
    const last = JSON.parse(json.stdout.trimEnd().split('\n').at(-1)!);
    assert.equal(last.serverId, ids['web-1']);
    assert.equal(last.kind, 'config');
  });

  test('get --watch redraws until killed; top shows every server with its rates', async () => {
    const watch = start(['get', 'servers', 'shop/web', '--watch', '--interval', '0.5']);
    await waitFor(() => (watch.stdout.match(/^NAME\s+ADDRESS/gm) ?? []).length >= 2, 15_000);
    watch.child.kill('SIGTERM');
    const top = await cli(['top', '--interval', '0.5', '--iterations', '2', '--backend', 'shop/web']);
    assert.equal(top.code, 0, top.stderr);
    const frames = top.stdout.split(/^fulcrum top /m).filter(Boolean);
    assert.equal(frames.length, 2);
    assert.match(frames[1]!, /SERVER\s+HEALTH\s+STATE\s+REQ\/S\s+ERR\/S\s+LATENCY\s+CONNS\s+REQUESTS/);
    assert.match(frames[1]!, /shop\/web\/web-1\s+\S+\s+active\s+0\.0\s+0\.0\s/);
    assert.doesNotMatch(top.stdout, /other\//);
  });

  test('lookup IP|ID: where a server is used, by path', async () => {
    const byIp = await cli(['lookup', '127.0.0.1']);
    assert.equal(byIp.code, 0, byIp.stderr);
    assert.match(byIp.stdout, /^SERVER\s+ADDRESS\s+WEIGHT\s+HEALTH\s+STATE\n/);
    assert.match(byIp.stdout, /\nshop\/web\/web-1\s+127\.0\.0\.1:9001\s/);
    const byId = await cli(['lookup', ids['web-3']!, '-o', 'json']);
    const hits = JSON.parse(byId.stdout) as Json[];
    assert.deepEqual(
      hits.map((h) => h.server.name),
      ['web-3'],
    );
    const none = await cli(['lookup', '10.9.9.9']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, 'no server uses 10.9.9.9\n');
  });

  test('token create, list, revoke (by name): the secret once, then it stops working', async () => {
    const created = await cli(['token', 'create', 'ci-cli', '--role', 'viewer', '-o', 'json']);
    assert.equal(created.code, 0, created.stderr);
    const t = JSON.parse(created.stdout);
    assert.equal(t.role, 'viewer');
    const asViewer = await cli(['get', 'servers', 'shop/web'], { FULCRUM_TOKEN: t.token });
    assert.equal(asViewer.code, 0, asViewer.stderr);
    const denied = await cli(['server', 'drain', 'shop/web/web-1'], { FULCRUM_TOKEN: t.token });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^fulcrum: 403 /);
    const list = await cli(['token', 'list']);
    assert.match(list.stdout, /^NAME\s+ROLE\s+CREATED\s+ID\n/);
    assert.match(list.stdout, /\nci-cli\s+viewer\s/);
    assert.doesNotMatch(list.stdout, new RegExp(t.token));
    const revoked = await cli(['token', 'revoke', 'ci-cli']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await cli(['get', 'servers'], { FULCRUM_TOKEN: t.token })).code, 1);
    assert.doesNotMatch((await cli(['token', 'list'])).stdout, /ci-cli/);
  });

  test('completion bash|zsh|fish: generated from the commands; bash parses and completes', async () => {
    const bash = await cli(['completion', 'bash']);
    assert.equal(bash.code, 0, bash.stderr);
    const file = path.join(dir, 'fulcrum.bash');
    writeFileSync(file, bash.stdout);
    assert.equal(spawnSync('bash', ['-n', file]).status, 0, 'bash -n');
    const complete = (words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _fulcrum; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    assert.equal(complete(['fulcrum', 'server', 'd']), 'disable drain');
    assert.equal(complete(['fulcrum', 'get', '-o', '']), 'table wide json yaml');
    assert.equal(complete(['fulcrum', 'get', 'serv']), 'servers');
    assert.match(complete(['fulcrum', 'completion', '']), /^bash zsh fish /);
    assert.match(complete(['fulcrum', 'events', '--fo']), /--follow/);
    for (const shell of ['zsh', 'fish']) {
      const r = await cli(['completion', shell]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /drain/);
      const check = spawnSync(shell, ['-n', '-c', r.stdout]);
      if (!check.error) assert.equal(check.status, 0, `${shell} -n: ${check.stderr}`);
    }
    assert.equal((await cli(['completion', 'tcsh'])).code, 2);
  });

  test('--help of every command has examples', async () => {
    const { buildProgram } = await import('../src/cli/main.ts');
    const { allCommands, helpText } = await import('../src/cli/help.ts');
    const missing = allCommands(buildProgram())
      .filter(({ cmd }) => !/\nExamples:\n[\s\S]*\bfulcrum /.test(helpText(cmd)))
      .map((c) => c.name);
    assert.deepEqual(missing, []);
    const r = await cli(['server', 'drain', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:\n {2}\$ fulcrum server drain shop\/web\/web-3\n/);
  });

  test("README's CLI reference is the --help of today's commands", () => {
    const root = path.resolve(import.meta.dirname, '..');
    const check = spawnSync(process.execPath, ['src/cli/reference.ts', '--check', 'README.md'], {
      cwd: root,
      encoding: 'utf8',
      env: childEnv({}),
    });
    assert.equal(check.status, 0, check.stderr);
  });
});

describe('fulcrum serve logs (issue 16): JSON when not a terminal, pretty with --log-format pretty', () => {
  /** Starts `serve` on an ephemeral port; answers its standard output once it says "fulcrum started". */
  async function serveOutput(args: string[], t: { after(fn: () => void): unknown }): Promise<string> {
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-cli-log-'));
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--api', '127.0.0.1:0', '--data-dir', dir, '--no-console', ...args],
      { env: childEnv({ FULCRUM_ADMIN_TOKEN: 'cli-log-token-0123456789' }) },
    );
    t.after(() => {
      child.kill('SIGKILL');
      removeDir(dir);
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    await waitFor(() => out.includes('fulcrum started'), 20_000, 'fulcrum started');
    return out;
  }

  test('default on a pipe: one JSON object per line', async (t) => {
    const out = await serveOutput([], t);
    const first = JSON.parse(out.split('\n')[0]!);
    assert.equal(first.svc, 'fulcrum');
  });

  test('--log-format pretty: readable lines with the level and message', async (t) => {
    const out = await serveOutput(['--log-format', 'pretty'], t);
    assert.doesNotMatch(out, /^\{/m);
    assert.match(out, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: fulcrum started/m);
    assert.doesNotMatch(out, /\x1b\[/, 'no colour on a pipe');
  });
});
