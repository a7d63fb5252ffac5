import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { get, namedHttpServer, removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';
import { shopYaml } from './helpers/shop.ts';

/**
 * `fulcrum apply` / `fulcrum export` end to end (SPEC C4, API.md appendix): the whole product
 * in this process, the CLI as a child process talking to its API, a real backend server and
 * real HTTP traffic through the frontend the file creates.
 */

const CLI = path.resolve(import.meta.dirname, '../src/cli/main.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a child process (asynchronously: the API it calls lives in this process). */
function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('fulcrum apply and export (C4)', () => {
  let t: TestFulcrum;
  let dir: string;
  let one: Awaited<ReturnType<typeof namedHttpServer>>;
  let two: Awaited<ReturnType<typeof namedHttpServer>>;
  let fePort: number;

  before(async () => {
    t = await startTestFulcrum();
    dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-decl-'));
    one = await namedHttpServer('one');
    two = await namedHttpServer('two');
    fePort = await freePort();
  });
  after(async () => {
    await t.close();
    await one.close();
    await two.close();
    removeDir(dir);
  });

  /** The test's file: two servers (weight of `two` given), one http frontend. */
  const shop = (o: { weightTwo?: number; withTwo?: boolean; extra?: string } = {}) =>
    `# the shop\n${shopYaml({
      algorithm: 'weighted-round-robin',
      servers: [
        `{ name: one, serverType: web, address: 127.0.0.1, port: ${one.port} }`,
        ...(o.withTwo === false
          ? []
          : [`{ name: two, serverType: web, address: 127.0.0.1, port: ${two.port}, weight: ${o.weightTwo ?? 1} }`]),
      ],
      frontends: [`{ name: www, protocol: http, port: ${fePort}, backend: web }`],
      extra: o.extra,
    })}`;
  const write = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const apply = (file: string, ...flags: string[]) =>
    cli(['apply', '-f', file, '--url', t.fulcrum.apiUrl, '--token', t.token, ...flags]);
  const version = () => t.fulcrum.control.version;
  /** Current servers of the backend `web` (deleted ones still draining left out). */
  const servers = async () => {
    const [b] = await t.ok('GET', '/backends');
    const list = (await t.ok('GET', `/backends/${b.id}/servers`)) as {
      name: string;
      weight: number;
      status: { reason: string };
    }[];
    return list.filter((s) => s.status.reason !== 'removed');
  };
  /** Bodies of `n` requests through the frontend. */
  const traffic = async (n: number) => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push((await get(`http://127.0.0.1:${fePort}/`)).body);
    return seen;
  };

  test('dry-run prints the plan and changes nothing', async () => {
    const r = await apply(write('shop.yaml', shop()), '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\+ create load balancer "shop"/);
    assert.match(r.stdout, /\+ create server "shop\/web\/two"\n {4}serverType: "web"\n {4}address: "127\.0\.0\.1"/);
    assert.match(r.stdout, /\+ create frontend "shop\/www"[\s\S]*defaultBackendId: "web"/);
    assert.match(r.stdout, /5 changes: 5 to create, 0 to update, 0 to delete\.\nDry run: nothing was changed\./);
    assert.equal(version(), 0);
    assert.deepEqual(await t.ok('GET', '/load-balancers'), []);
  });

  test('apply creates everything and traffic flows through the frontend to the servers', async () => {
    const r = await apply(write('shop.yaml', shop()));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /✓ create load balancer "shop" \(configVersion 1\)/);
    assert.match(r.stdout, /Applied 5 changes \(configVersion 5\)\./);
    assert.equal(version(), 5);
    const [fe] = await t.ok('GET', '/frontends');
    assert.equal(fe.status.listening, true);
    const seen = await traffic(8);
    assert.ok(seen.includes('one') && seen.includes('two'), `both servers answer: ${seen.join(',')}`);
  });

  test('a second apply of the same file plans nothing', async () => {
    const r = await apply(path.join(dir, 'shop.yaml'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No changes: the configuration already matches the file\./);
    assert.equal(version(), 5);
  });

  test('changing a weight updates only that server (configVersion + 1)', async () => {
    const before = { lbs: await t.ok('GET', '/load-balancers'), servers: await servers() };
    const r = await apply(write('shop.yaml', shop({ weightTwo: 3 })));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /~ update server "shop\/web\/two"\n {4}weight: 1 → 3\n1 change: 0 to create, 1 to update, 0 to delete\./,
    );
    assert.equal(version(), 6);
    const now = await servers();
    assert.equal(now.find((s) => s.name === 'two')?.weight, 3);
    // Server one is untouched; only its expected share moves with two's weight (issue 15 point 5).
    const untouched = (x: { status: Record<string, unknown> } | undefined) =>
      x && { ...x, status: { ...x.status, expectedShare: undefined } };
    assert.deepEqual(
      untouched(now.find((s) => s.name === 'one')),
      untouched(before.servers.find((s) => s.name === 'one')),
    );
    assert.deepEqual(await t.ok('GET', '/load-balancers'), before.lbs);
    const audit = await t.ok('GET', '/audit');
    assert.equal(audit[0].action, 'update');
    assert.match(audit[0].resource, /^server\//);
  });

  test('without --prune a server missing from the file stays; with --prune it is removed', async () => {
    const file = write('shop.yaml', shop({ withTwo: false }));
    const keep = await apply(file);
    assert.equal(keep.code, 0, keep.stderr);
    assert.match(keep.stdout, /No changes/);
    const dry = await apply(file, '--prune', '--dry-run');
    assert.match(dry.stdout, /- delete server "shop\/web\/two"\n1 change: 0 to create, 0 to update, 1 to delete\./);
    assert.equal(version(), 6);
    const r = await apply(file, '--prune');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(version(), 7);
    assert.deepEqual(
      (await servers()).map((s) => s.name),
      ['one'],
    );
    assert.deepEqual(new Set(await traffic(4)), new Set(['one']));
  });

  test('bad files are refused with the path in the file (exit 2), nothing called', async () => {
    const cases: [string, RegExp][] = [
      [
        shop().replace(`port: ${one.port} }`, 'port: 70000 }'),
        /loadBalancers\[0\]\.backends\[0\]\.servers\[0\]\.port: must be an integer from 1 to 65535/,
      ],
      [
        shop().replace('backend: web }', 'backend: wbe }'),
        /loadBalancers\[0\]\.frontends\[0\]\.backend: no backend named "wbe"/,
      ],
      [
        shop().replace('mode: http', 'mode: http\n        colour: blue'),
        /loadBalancers\[0\]\.backends\[0\]\.colour: is not a field here/,
      ],
      [shop().replace('weight: 1', 'weight: heavy'), /servers\[1\]\.weight: must be an integer from 0 to 100/],
      [shop().replace('- { name: two', '- { name: one'), /servers\[1\]\.name: duplicate server name "one"/],
      ['loadBalancers: [', /not valid YAML or JSON/],
    ];
    for (const [i, [text, want]] of cases.entries()) {
      const r = await apply(write(`bad-${i}.yaml`, text));
      assert.equal(r.code, 2, `case ${i}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, want, `case ${i}`);
      assert.equal(r.stdout, '', 'no plan printed');
    }
    const missing = await apply(path.join(dir, 'nope.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.yaml: cannot read/);
    assert.equal(version(), 7);
  });

  test('a plan a rule refuses (F2) is refused before any change (exit 1)', async () => {
    const text = shop({
      withTwo: false,
      extra: `      - { name: tcp, protocol: tcp, port: ${fePort + 1}, backend: web }\n`,
    });
    const r = await apply(write('f2.yaml', text));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /refused before any change: rule: defaultBackendId: a tcp frontend needs a tcp backend, backend "web" has mode http/,
    );
    assert.equal(version(), 7);
  });

  test('a refusal by the API stops the apply and says what was already applied', async () => {
    const ops = await t.ok('POST', '/tokens', { name: 'ops', role: 'operator' });
    // An operator may change servers but not create frontends: the weight change goes through, the frontend is refused.
    const text = shop({ withTwo: false, extra: '' })
      .replace(`port: ${one.port} }`, `port: ${one.port}, weight: 4 }`)
      .replace(/\n$/, `\n      - { name: extra, protocol: http, port: ${fePort + 2}, backend: web }\n`);
    const r = await cli(['apply', '-f', write('ops.yaml', text), '--url', t.fulcrum.apiUrl, '--token', ops.token]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /✓ update server "shop\/web\/one" \(configVersion 8\)/);
    assert.match(r.stderr, /✗ create frontend "shop\/extra" refused: 403 forbidden: /);
    assert.match(r.stderr, /Applied 1 of 2 changes before the refusal: update server "shop\/web\/one"\./);
    assert.equal(version(), 8);
    assert.equal((await t.ok('GET', '/frontends')).length, 1);
  });

  test('instances by name: created first, then a server that names one', async () => {
    const text = `instances:\n  - { name: vm-1, privateIp: 127.0.0.1, zone: az1, os: linux }\n${shop({
      withTwo: false,
    }).replace(
      `port: ${one.port} }\n`,
      `port: ${one.port} }\n          - { name: three, instance: vm-1, port: ${two.port} }\n`,
    )}`;
    const r = await apply(write('inst.yaml', text));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout.split('\n').filter((l) => l.startsWith('✓')),
      [
        '✓ create instance "vm-1" (configVersion 9)',
        '✓ update server "shop/web/one" (configVersion 10)',
        '✓ create server "shop/web/three" (configVersion 11)',
      ],
    );
    assert.match(r.stdout, /~ update server "shop\/web\/one"\n {4}weight: 4 → 1\n/);
    const three = (await servers()).find((s) => s.name === 'three') as unknown as {
      instanceId: string;
      address: string;
    };
    const [inst] = await t.ok('GET', '/instances');
    assert.equal(three.instanceId, inst.id);
    assert.equal(three.address, '127.0.0.1');
    assert.deepEqual(new Set(await traffic(6)), new Set(['one', 'two']));
  });

  test('export → apply --prune plans nothing', async () => {
    const ex = await cli(['export', '--url', t.fulcrum.apiUrl, '--token', t.token]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.match(ex.stdout, /^# Fulcrum configuration exported from /);
    assert.doesNotMatch(ex.stdout, /\bid:|Id:/, 'no ids in an export');
    assert.match(ex.stdout, /backend: web/);
    assert.match(ex.stdout, /instance: vm-1/);
    const r = await apply(write('export.yaml', ex.stdout), '--prune');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No changes: the configuration already matches the file\./);
    assert.equal(version(), 11);
  });
});
