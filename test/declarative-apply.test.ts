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
 * real HTTP traffic through the frontend the file creates. `apply` sends the file to `POST
 * /api/v1/apply`: the whole plan is one change (issue 15 point 1).
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

  test('apply creates everything as one change and traffic flows through the frontend to the servers', async () => {
    const r = await apply(write('shop.yaml', shop()));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\+ create load balancer "shop"/);
    assert.match(
      r.stdout,
      /5 changes: 5 to create, 0 to update, 0 to delete\.\nApplied 5 changes as one \(configVersion 1\)\./,
    );
    assert.equal(version(), 1);
    const audit = await t.ok('GET', '/audit');
    assert.deepEqual(
      audit.map((a: { action: string; resource: string }) => `${a.action} ${a.resource}`),
      ['apply config/apply'],
    );
    const [fe] = await t.ok('GET', '/frontends');
    assert.equal(fe.status.listening, true);
    const seen = await traffic(8);
    assert.ok(seen.includes('one') && seen.includes('two'), `both servers answer: ${seen.join(',')}`);
  });

  test('a second apply of the same file plans nothing', async () => {
    const r = await apply(path.join(dir, 'shop.yaml'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No changes: the configuration already matches the file\./);
    assert.equal(version(), 1);
  });

  test('changing a weight updates only that server (configVersion + 1)', async () => {
    const before = { lbs: await t.ok('GET', '/load-balancers'), servers: await servers() };
    const r = await apply(write('shop.yaml', shop({ weightTwo: 3 })));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /~ update server "shop\/web\/two"\n {4}weight: 1 → 3\n1 change: 0 to create, 1 to update, 0 to delete\./,
    );
    assert.equal(version(), 2);
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
    assert.equal(audit[0].action, 'apply');
    assert.deepEqual(audit[0].after.changes, ['update server "shop/web/two"']);
  });

  test('without --prune a server missing from the file stays; with --prune it is removed', async () => {
    const file = write('shop.yaml', shop({ withTwo: false }));
    const keep = await apply(file);
    assert.equal(keep.code, 0, keep.stderr);
    assert.match(keep.stdout, /No changes/);
    const dry = await apply(file, '--prune', '--dry-run');
    assert.match(dry.stdout, /- delete server "shop\/web\/two"\n1 change: 0 to create, 0 to update, 1 to delete\./);
    assert.equal(version(), 2);
    const r = await apply(file, '--prune');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(version(), 3);
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
    assert.equal(version(), 3);
  });

  test('a plan a rule refuses (F2) is refused whole (exit 1)', async () => {
    const text = shop({
      withTwo: false,
      extra: `      - { name: tcp, protocol: tcp, port: ${fePort + 1}, backend: web }\n`,
    });
    const r = await apply(write('f2.yaml', text));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /refused as a whole, nothing was changed: 409 rule: defaultBackendId: a tcp frontend needs a tcp backend, backend "web" has mode http/,
    );
    assert.equal(version(), 3);
  });

  test('an apply the API refuses changes nothing, not even the parts it would allow', async () => {
    const ops = await t.ok('POST', '/tokens', { name: 'ops', role: 'operator' });
    // An operator may change servers but not apply a document (admin): the weight change does not go through either.
    const text = shop({ withTwo: false, extra: '' }).replace(`port: ${one.port} }`, `port: ${one.port}, weight: 4 }`);
    const r = await cli(['apply', '-f', write('ops.yaml', text), '--url', t.fulcrum.apiUrl, '--token', ops.token]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /refused as a whole, nothing was changed: 403 forbidden: /);
    assert.equal(version(), 3);
    assert.equal((await servers()).find((s) => s.name === 'one')?.weight, 1);
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
    assert.match(
      r.stdout,
      /\+ create instance "vm-1"[\s\S]*\+ create server "shop\/web\/three"\n {4}port: \d+\n {4}instanceId: "vm-1"\n/,
    );
    assert.match(r.stdout, /Applied 2 changes as one \(configVersion 4\)\./);
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
    assert.equal(version(), 4);
  });

  /** The configuration as it is now: server one, and three following instance vm-1; ports as given. */
  const fleet = (onePort: number, threePort: number) =>
    `instances:\n  - { name: vm-1, privateIp: 127.0.0.1, zone: az1, os: linux }\n${shop({ withTwo: false }).replace(
      `port: ${one.port} }\n`,
      `port: ${onePort} }\n          - { name: three, instance: vm-1, port: ${threePort} }\n`,
    )}`;

  test('two servers swap ports: refused by step-by-step calls, applied as one change', async () => {
    const [b] = await t.ok('GET', '/backends');
    const first = (await servers()).find((s) => s.name === 'one') as unknown as { id: string };
    // The first call of a step-by-step apply would make two servers share an endpoint.
    const step = await t.api('PATCH', `/backends/${b.id}/servers/${first.id}`, { port: two.port });
    assert.equal(step.status, 409);
    const r = await apply(write('swap.yaml', fleet(two.port, one.port)));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /~ update server "shop\/web\/one"\n {4}port: \d+ → \d+\n~ update server "shop\/web\/three"/);
    assert.match(r.stdout, /Applied 2 changes as one \(configVersion 5\)/);
    const ports = (await servers()) as unknown as { name: string; port: number }[];
    assert.deepEqual(
      ports.map((s) => [s.name, s.port]),
      [
        ['one', two.port],
        ['three', one.port],
      ],
    );
    assert.deepEqual(new Set(await traffic(6)), new Set(['one', 'two']));
  });

  test("a frontend takes a pruned frontend's port: refused step by step, applied as one change", async () => {
    const other = await freePort();
    const now = fleet(two.port, one.port);
    const both = now.replace(/\n$/, `\n      - { name: api, protocol: http, port: ${other}, backend: web }\n`);
    const first = await apply(write('two-fronts.yaml', both));
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const v = version();
    const www = ((await t.ok('GET', '/frontends')) as { id: string; name: string }[]).find((f) => f.name === 'www');
    // The first call of a step-by-step apply (the update comes before the delete) is refused.
    const step = await t.api('PATCH', `/frontends/${www?.id}`, { port: other });
    assert.equal(step.status, 409);
    const moved = now.replace(`port: ${fePort}, backend: web }`, `port: ${other}, backend: web }`);
    const r = await apply(write('moved.yaml', moved), '--prune');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /~ update frontend "shop\/www"\n {4}port: \d+ → \d+\n- delete frontend "shop\/api"\n/);
    assert.equal(version(), v + 1);
    const fronts = (await t.ok('GET', '/frontends')) as { name: string; port: number }[];
    assert.deepEqual(
      fronts.map((f) => [f.name, f.port]),
      [['www', other]],
    );
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await get(`http://127.0.0.1:${other}/`)).body);
    assert.deepEqual(seen, new Set(['one', 'two']));
  });
});
