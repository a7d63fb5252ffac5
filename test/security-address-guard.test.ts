import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runApply } from '../src/cli/apply.ts';
import type { ConfigState } from '../src/config/model.ts';
import type { RunningFulcrum, StartOptions } from '../src/main.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import { type ApiCall, removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';

// Issue 10 "Admin-plane security", point 2: addresses that are never a backend (link-local and
// cloud metadata, unspecified, multicast, reserved/broadcast, the admin API's own address and
// port) are refused with 409 naming the field, in every spelling, through the API (create and
// PATCH), for instances, and through the declarative file; loose IPv4 notations are 400.
// Each refusal changes nothing: same configVersion, same stored configuration.

type Api = ApiCall;

/** A Fulcrum on `dataDir` with start options beyond the defaults (`allowBackendNetworks`, `configFile`). */
async function startWith(
  dataDir: string,
  extra: Partial<StartOptions> = {},
): Promise<{ fulcrum: RunningFulcrum; api: Api }> {
  const h = await startTestFulcrum({ dataDir, ...extra });
  return { fulcrum: h.fulcrum, api: h.api };
}

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'fulcrum-guard-'));
}

/** The configVersion and the whole stored configuration, re-read from the store. */
async function stored(fulcrum: RunningFulcrum): Promise<{ version: number; state: ConfigState }> {
  return { version: fulcrum.control.version, state: await fulcrum.control.store.load() };
}

/** Sends a request that must be refused; checks status, code, field, message, and that nothing changed. */
async function refused(
  fulcrum: RunningFulcrum,
  api: Api,
  method: string,
  p: string,
  body: unknown,
  status: 400 | 409,
  field: string,
  rule?: RegExp,
): Promise<string> {
  const was = await stored(fulcrum);
  const r = await api(method, p, body);
  const what = `${method} ${p} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`;
  assert.equal(r.status, status, what);
  assert.equal(r.body.error.code, status === 409 ? 'conflict' : 'invalid', what);
  assert.equal(r.body.error.field, field, what);
  assert.ok(r.body.error.message.startsWith(`${field}: `) || status === 400, `message names the field: ${what}`);
  assert.ok(r.body.error.message.includes(field), `message names the field: ${what}`);
  if (rule) assert.match(r.body.error.message, rule, what);
  assert.deepEqual(await stored(fulcrum), was, `a refused request changes nothing: ${what}`);
  return r.body.error.message as string;
}

function apiPortOf(fulcrum: RunningFulcrum): number {
  return Number(new URL(fulcrum.apiUrl).port);
}

describe('address guard through the API (issue 10)', () => {
  let f: TestFulcrum;
  let api: Api;
  let apiPort: number;
  let lb: string;
  let web: string;
  let noPort: string;
  before(async () => {
    f = await startTestFulcrum();
    api = f.api;
    apiPort = apiPortOf(f.fulcrum);
    // ipAsBackend: S7 lets any IPv4 address in, so every refusal below is the guard's.
    lb = (await f.ok('POST', '/load-balancers', { name: 'any', ipAsBackend: true })).id;
    web = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lb,
        name: 'web',
        mode: 'http',
        port: 80,
        healthCheck: { enabled: false },
      })
    ).id;
    noPort = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lb,
        name: 'noport',
        mode: 'tcp',
        healthCheck: { enabled: false },
      })
    ).id;
  });
  after(() => f.close());

  it('refuses never-a-backend server addresses with 409 naming address and the rule', async () => {
    const hostile: [string, RegExp][] = [
      ['169.254.169.254', /link-local/],
      ['169.254.170.2', /link-local/],
      ['169.254.0.23', /link-local/],
      ['169.254.0.1', /link-local/],
      ['100.100.100.200', /metadata/],
      ['168.63.129.16', /metadata/],
      ['192.0.0.192', /metadata/],
      ['0.0.0.0', /unspecified/],
      ['0.1.2.3', /unspecified/],
      ['224.0.0.1', /multicast/],
      ['239.255.255.250', /multicast/],
      ['255.255.255.255', /broadcast/],
      ['240.0.0.1', /reserved/],
      ['250.1.2.3', /reserved/],
    ];
    for (const [address, rule] of hostile) {
      await refused(
        f.fulcrum,
        api,
        'POST',
        `/backends/${web}/servers`,
        { name: 'evil', address, port: 80 },
        409,
        'address',
        rule,
      );
    }
  });

  it("refuses the admin API's own address and port, in its loopback spellings", async () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '127.1.2.3', '127.255.255.254']) {
      await refused(
        f.fulcrum,
        api,
        'POST',
        `/backends/${web}/servers`,
        { name: 'api', address, port: apiPort },
        409,
        'address',
        /admin API's own address and port/,
      );
    }
    // No port of its own: the backend's port decides.
    await f.ok('PATCH', `/backends/${noPort}`, { port: apiPort });
    await refused(
      f.fulcrum,
      api,
      'POST',
      `/backends/${noPort}/servers`,
      { name: 'api', address: '127.0.0.1' },
      409,
      'address',
    );
    await f.ok('PATCH', `/backends/${noPort}`, { port: null });
  });

  it('refuses loose IPv4 notations with 400 naming address', async () => {
    for (const address of [
      '0x7f.0.0.1',
      '0x7f.1',
      '0x7f000001',
      '127.1',
      '127.0.1',
      '0177.0.0.1',
      '2130706433',
      '010.0.0.1',
      '10.0.0.01',
      '169.254.169.254.',
      ' 10.0.0.1',
      '10.0.0.1 ',
      '１０.0.0.1',
      '::ffff:169.254.169.254',
      '::1',
    ]) {
      const msg = await refused(
        f.fulcrum,
        api,
        'POST',
        `/backends/${web}/servers`,
        { name: 'loose', address, port: 80 },
        400,
        'address',
      );
      assert.match(msg, /^address: must be an IPv4 address/, msg);
    }
  });

  it('refuses never-a-backend instance addresses in every IPv6 spelling (409 naming privateIp)', async () => {
    for (const privateIp of [
      '169.254.169.254',
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      '::FFFF:A9FE:A9FE',
      '0:0:0:0:0:ffff:a9fe:a9fe',
      '0000:0000:0000:0000:0000:ffff:a9fe:a9fe',
      '::ffff:0:a9fe:a9fe',
      '::169.254.169.254',
      '64:ff9b::a9fe:a9fe',
      'fe80::1',
      'fe80::a9fe:a9fe%eth0',
      'fd00:ec2::254',
      'ff02::1',
      '::',
      '::ffff:0.0.0.0',
      '::ffff:100.100.100.200',
      '::ffff:6464:64c8',
      '::ffff:255.255.255.255',
      '::ffff:224.0.0.251',
    ]) {
      await refused(
        f.fulcrum,
        api,
        'POST',
        '/instances',
        { name: 'evil', privateIp },
        409,
        'privateIp',
        /never a backend/,
      );
    }
    for (const privateIp of ['::ffff:127.1', '0x7f.1', '::ffff:010.0.0.1', '[::1]', 'fe80::1%']) {
      await refused(f.fulcrum, api, 'POST', '/instances', { name: 'loose', privateIp }, 400, 'privateIp');
    }
  });

  it('accepts ordinary backends: loopback on another port, private ranges, ::1', async () => {
    const s1 = await f.ok('POST', `/backends/${web}/servers`, { name: 'lo', address: '127.0.0.1', port: 8081 });
    assert.equal(s1.address, '127.0.0.1');
    await f.ok('POST', `/backends/${web}/servers`, { name: 'ten', address: '10.1.2.3', port: 80 });
    await f.ok('POST', `/backends/${web}/servers`, { name: 'cgnat', address: '100.64.0.1', port: 80 });
    await f.ok('POST', `/backends/${web}/servers`, { name: 'home', address: '192.168.1.1' });
    const v6 = await f.ok('POST', '/instances', { name: 'v6-lo', privateIp: '::1' });
    const srv = await f.ok('POST', `/backends/${web}/servers`, { name: 'via-v6', instanceId: v6.id, port: 8082 });
    assert.equal(srv.address, '::1');
    await f.ok('POST', '/instances', { name: 'mapped-ten', privateIp: '::ffff:10.0.0.9' });
  });

  it("refuses a server following an instance onto the API's port", async () => {
    for (const [name, privateIp] of [
      ['lo6', '::1'],
      ['mapped-lo', '::ffff:127.0.0.1'],
      ['mapped-hex', '::ffff:7f00:1'],
    ] as const) {
      const inst = await f.ok('POST', '/instances', { name, privateIp });
      await refused(
        f.fulcrum,
        api,
        'POST',
        `/backends/${web}/servers`,
        { name: `via-${name}`, instanceId: inst.id, port: apiPort },
        409,
        'address',
        /admin API/,
      );
    }
  });

  it('PATCH: a server cannot move to a refused address or onto the API port; an instance cannot move either', async () => {
    const s = await f.ok('POST', `/backends/${web}/servers`, { name: 'movable', address: '10.0.0.5', port: 80 });
    for (const patch of [
      { address: '169.254.169.254' },
      { address: '100.100.100.200' },
      { address: '224.0.0.1' },
      { address: '127.0.0.1', port: apiPort },
    ]) {
      await refused(f.fulcrum, api, 'PATCH', `/backends/${web}/servers/${s.id}`, patch, 409, 'address');
    }
    await refused(
      f.fulcrum,
      api,
      'PATCH',
      `/backends/${web}/servers/${s.id}`,
      { address: '0177.0.0.1' },
      400,
      'address',
    );
    const lo = await f.ok('POST', `/backends/${web}/servers`, { name: 'lo2', address: '127.0.0.1', port: 9 });
    await refused(f.fulcrum, api, 'PATCH', `/backends/${web}/servers/${lo.id}`, { port: apiPort }, 409, 'address');

    const inst = await f.ok('POST', '/instances', { name: 'vm', privateIp: '10.9.9.9' });
    await f.ok('POST', `/backends/${web}/servers`, { name: 'on-vm', instanceId: inst.id });
    for (const privateIp of ['fe80::1', '::ffff:a9fe:a9fe', '169.254.169.254']) {
      await refused(f.fulcrum, api, 'PATCH', `/instances/${inst.id}`, { privateIp }, 409, 'privateIp');
    }
    // Still where they were.
    assert.equal((await f.ok('GET', `/instances/${inst.id}`)).privateIp, '10.9.9.9');
    assert.equal((await f.ok('GET', `/backends/${web}/servers/${s.id}`)).address, '10.0.0.5');
  });

  it("a backend's port cannot turn its port-less servers onto the API", async () => {
    const be = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lb,
        name: 'follow',
        mode: 'tcp',
        port: 7,
        healthCheck: { enabled: false },
      })
    ).id;
    await f.ok('POST', `/backends/${be}/servers`, { name: 'lo', address: '127.0.0.1' });
    await refused(f.fulcrum, api, 'PATCH', `/backends/${be}`, { port: apiPort }, 409, 'address', /admin API/);
  });

  it("a frontend may not bind the API's own address and port (409 naming port and bindAddress)", async () => {
    for (const bindAddress of ['127.0.0.1', '0.0.0.0', '::', '::ffff:127.0.0.1']) {
      const msg = await refused(
        f.fulcrum,
        api,
        'POST',
        '/frontends',
        { loadBalancerId: lb, name: 'steal', protocol: 'http', bindAddress, port: apiPort, defaultBackendId: web },
        409,
        'port',
      );
      assert.match(msg, /bindAddress .* and port \d+ are the admin API's own address and port/);
    }
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'elsewhere',
      protocol: 'http',
      bindAddress: '127.0.0.1',
      port: await freePort(),
      defaultBackendId: web,
    });
    await refused(f.fulcrum, api, 'PATCH', `/frontends/${fe.id}`, { port: apiPort }, 409, 'port');
  });

  it('S7 allowed networks cannot open a refused range either', async () => {
    const open = (await f.ok('POST', '/load-balancers', { name: 'open', allowedNetworks: ['0.0.0.0/0'] })).id;
    const be = (await f.ok('POST', '/backends', { loadBalancerId: open, name: 'b', mode: 'http', port: 80 })).id;
    await refused(
      f.fulcrum,
      api,
      'POST',
      `/backends/${be}/servers`,
      { name: 'md', address: '169.254.169.254' },
      409,
      'address',
    );
    await f.ok('POST', `/backends/${be}/servers`, { name: 'ok', address: '10.0.0.1' });
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe('--allow-backend-networks (issue 10)', () => {
  it('lets the listed ranges through, and only them; never the API itself', async () => {
    const dir = tempDir();
    const { fulcrum, api } = await startWith(dir, { allowBackendNetworks: ['169.254.0.0/16', 'fd00:ec2::/64'] });
    try {
      const lb = (await api('POST', '/load-balancers', { name: 'lb', ipAsBackend: true })).body.id;
      const be = (await api('POST', '/backends', { loadBalancerId: lb, name: 'b', mode: 'http', port: 80 })).body.id;
      const md = await api('POST', `/backends/${be}/servers`, { name: 'md', address: '169.254.169.254' });
      assert.equal(md.status, 201, JSON.stringify(md.body));
      const inst = await api('POST', '/instances', { name: 'md6', privateIp: 'fd00:ec2::254' });
      assert.equal(inst.status, 201, JSON.stringify(inst.body));
      const mapped = await api('POST', '/instances', { name: 'mapped', privateIp: '::ffff:a9fe:a9fe' });
      assert.equal(mapped.status, 201, JSON.stringify(mapped.body));
      await refused(
        fulcrum,
        api,
        'POST',
        `/backends/${be}/servers`,
        { name: 'mc', address: '224.0.0.1' },
        409,
        'address',
      );
      await refused(fulcrum, api, 'POST', '/instances', { name: 'll6', privateIp: 'fe80::1' }, 409, 'privateIp');
      await refused(
        fulcrum,
        api,
        'POST',
        `/backends/${be}/servers`,
        { name: 'api', address: '127.0.0.1', port: apiPortOf(fulcrum) },
        409,
        'address',
      );
    } finally {
      await fulcrum.close();
      removeDir(dir);
    }
  });

  it('a bad CIDR stops the start with a message naming the flag', async () => {
    const dir = tempDir();
    await assert.rejects(
      startWith(dir, { allowBackendNetworks: ['169.254.0.0/16', 'metadata'] }),
      /--allow-backend-networks: "metadata" is not a CIDR/,
    );
    removeDir(dir);
  });

  it('fulcrum serve checks the flag before starting', () => {
    const dir = tempDir();
    const r = spawnSync(
      process.execPath,
      [
        'src/cli/main.ts',
        'serve',
        '--api',
        '127.0.0.1:0',
        '--data-dir',
        dir,
        '--no-console',
        '--allow-backend-networks',
        '169.254.0.0/33',
      ],
      { cwd: path.resolve(import.meta.dirname, '..'), encoding: 'utf8', timeout: 20_000 },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--allow-backend-networks: "169\.254\.0\.0\/33" is not a CIDR/);
    removeDir(dir);
  });
});

describe('the declarative file goes through the same guard (issue 10)', () => {
  const file = (address: string, privateIp: string) => `
instances:
  - { name: vm, privateIp: "${privateIp}" }
loadBalancers:
  - name: shop
    ipAsBackend: true
    backends:
      - name: web
        mode: http
        port: 80
        servers:
          - { name: s1, address: "${address}" }
`;

  it('serve --config: a metadata address stops the start and stores nothing; the escape flag lets it in', async () => {
    const dir = tempDir();
    const cfg = path.join(dir, 'shop.yaml');
    writeFileSync(cfg, file('169.254.169.254', '10.0.0.7'));
    await assert.rejects(startWith(dir, { configFile: cfg }), (err: Error & { code?: string; field?: string }) => {
      assert.equal(err.code, 'conflict');
      assert.equal(err.field, 'address');
      assert.match(err.message, /shop\.yaml: refused: address: 169\.254\.169\.254 is a link-local address/);
      return true;
    });
    writeFileSync(cfg, file('10.0.0.1', '::ffff:a9fe:a9fe'));
    await assert.rejects(
      startWith(dir, { configFile: cfg }),
      /refused: privateIp: ::ffff:a9fe:a9fe \(the IPv4 address 169\.254\.169\.254\)/,
    );
    {
      const { fulcrum, api } = await startWith(dir);
      assert.deepEqual((await api('GET', '/load-balancers')).body, [], 'nothing was stored');
      assert.deepEqual((await api('GET', '/instances')).body, []);
      await fulcrum.close();
    }
    writeFileSync(cfg, file('169.254.169.254', '::ffff:a9fe:a9fe'));
    const { fulcrum, api } = await startWith(dir, { configFile: cfg, allowBackendNetworks: ['169.254.0.0/16'] });
    const lbs = (await api('GET', '/load-balancers')).body;
    assert.equal(lbs.length, 1);
    await fulcrum.close();
    removeDir(dir);
  });

  it('fulcrum apply: a refused address exits 1 and changes nothing', async (t) => {
    const f = await startTestFulcrum({ t });
    // The load balancer and backend already match the file: the plan's only step is the server.
    const lb = (await f.ok('POST', '/load-balancers', { name: 'shop', ipAsBackend: true })).id;
    await f.ok('POST', '/backends', { loadBalancerId: lb, name: 'web', mode: 'http', port: 80 });
    const cases: [string, RegExp][] = [
      [file('169.254.169.254', '').replace(/^instances:\n.*\n/m, ''), /address: 169\.254\.169\.254 is a link-local/],
      ['instances:\n  - { name: vm, privateIp: "fd00:ec2::254" }\n', /privateIp: fd00:ec2::254 is a cloud metadata/],
    ];
    for (const [text, rule] of cases) {
      const cfg = path.join(f.dataDir, 'shop.yaml');
      writeFileSync(cfg, text);
      const was = await stored(f.fulcrum);
      const lines: string[] = [];
      const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
      const code = await runApply(
        { file: cfg, url: f.fulcrum.apiUrl, token: f.token, dryRun: false, prune: false },
        io,
      );
      assert.equal(code, 1, lines.join('\n'));
      assert.match(lines.join('\n'), rule);
      assert.deepEqual(await stored(f.fulcrum), was);
    }
  });
});

describe('restored configuration and start (issue 10)', () => {
  it('data stored before the guard does not stop the start; a frontend that cannot bind shows why', async (t) => {
    const f = await startTestFulcrum({ t });
    const lb = (await f.ok('POST', '/load-balancers', { name: 'lb', ipAsBackend: true })).id;
    const be = (
      await f.ok('POST', '/backends', {
        loadBalancerId: lb,
        name: 'b',
        mode: 'http',
        port: 80,
        healthCheck: { enabled: false },
      })
    ).id;
    const s = await f.ok('POST', `/backends/${be}/servers`, { name: 'old', address: '10.0.0.1' });
    const port = await freePort();
    const fe = await f.ok('POST', '/frontends', {
      loadBalancerId: lb,
      name: 'www',
      protocol: 'http',
      port,
      defaultBackendId: be,
    });
    await f.stop();

    // A configuration written before the guard existed: the server points at cloud metadata.
    const store = SqliteStore.open(f.dataDir);
    const state = await store.load();
    const old = state.servers.find((x) => x.id === s.id)!;
    await store.commit({
      baseVersion: state.version,
      upserts: [{ kind: 'server', doc: { ...old, address: '169.254.169.254' } }],
      deletes: [],
      audit: {
        at: new Date().toISOString(),
        actor: 'test',
        action: 'update',
        resource: `server/${s.id}`,
        before: null,
        after: null,
      },
    });
    await store.close();

    // Another program holds the frontend's port.
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(port, '0.0.0.0', r));
    try {
      await f.restart();
      assert.equal((await f.api('GET', '/load-balancers')).status, 200, 'the API answers');
      const status = (await f.ok('GET', `/frontends/${fe.id}`)).status;
      assert.equal(status.listening, false);
      assert.match(status.reason, /in use|EADDRINUSE/);
      assert.equal((await f.ok('GET', `/backends/${be}/servers/${s.id}`)).address, '169.254.169.254', 'restored as is');
      // Unrelated changes and changes to the restored server that keep its address still work…
      await f.ok('POST', '/load-balancers', { name: 'another' });
      await f.ok('PATCH', `/backends/${be}/servers/${s.id}`, { enabled: false });
      // …but a write that brings in a new refused address does not.
      await refused(
        f.fulcrum,
        f.api,
        'PATCH',
        `/backends/${be}/servers/${s.id}`,
        { address: '100.100.100.200' },
        409,
        'address',
      );
      await f.ok('PATCH', `/backends/${be}/servers/${s.id}`, { address: '10.0.0.2' });
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });
});
