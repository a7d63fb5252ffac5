import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runApply } from '../src/cli/apply.ts';
import type { ConfigState } from '../src/config/model.ts';
import type { RunningFulcrum } from '../src/main.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import { removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { TestPki } from './tls-pki.ts';

// Issue 10 "Admin-plane security", point 5 (names): every name — load balancers, frontends,
// backends, servers, instances, certificates, tokens — is stored in Unicode NFC and refused
// with 400 naming `name` when it holds control characters (C0, C1, DEL), bidi overrides,
// isolates or marks, zero-width characters, leading or trailing whitespace, or "/". One rule
// (config/names.ts) for API create and update and the declarative file; uniqueness compares
// NFC forms. Each refusal changes nothing.

/** Hostile names and the rule each breaks (as the message words it). */
const HOSTILE: [string, RegExp][] = [
  ['shop\u0000', /control characters.*U\+0000/],
  ['sh\top', /control characters.*U\+0009/],
  ['shop\nadmin', /control characters.*U\+000A/],
  ['shop\r', /control characters.*U\+000D/],
  ['\u001b[31mred', /control characters.*U\+001B/],
  ['del\u007f', /control characters.*U\+007F/],
  ['c1\u0085x', /control characters.*U\+0085/],
  ['c1\u009bx', /control characters.*U\+009B/],
  ['invoice\u202egnp.exe', /bidirectional.*U\+202E/],
  ['a\u202ab', /bidirectional.*U\+202A/],
  ['a\u2066b\u2069', /bidirectional.*U\+2066/],
  ['a\u2068b', /bidirectional.*U\+2068/],
  ['a\u200eb', /bidirectional.*U\+200E/],
  ['a\u200fb', /bidirectional.*U\+200F/],
  ['a\u061cb', /bidirectional.*U\+061C/],
  ['sh\u200bop', /zero-width.*U\+200B/],
  ['sh\u200cop', /zero-width.*U\+200C/],
  ['sh\u200dop', /zero-width.*U\+200D/],
  ['sh\u2060op', /zero-width.*U\+2060/],
  ['\ufeffshop', /zero-width.*U\+FEFF/],
  [' shop', /whitespace/],
  ['shop ', /whitespace/],
  ['shop\u00a0', /whitespace/],
  ['\u3000shop', /whitespace/],
  ['shop/web', /"\/"/],
  ['/', /"\/"/],
  ['a\u2028b', /line or paragraph separators/],
  ['x'.repeat(65), /1 to 64 characters/],
];

// biome-ignore lint/suspicious/noExplicitAny: API answers are JSON; tests read the fields they assert on.
type Answer = { status: number; body: any };

async function stored(fulcrum: RunningFulcrum): Promise<{ version: number; state: ConfigState }> {
  return { version: fulcrum.control.version, state: await fulcrum.control.store.load() };
}

describe('names through the API (issue 10)', () => {
  let f: TestFulcrum;
  let lb: string;
  let be: string;
  let pki: TestPki;
  before(async () => {
    f = await startTestFulcrum();
    pki = new TestPki();
    lb = (await f.ok('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['10.0.0.0/8'] })).id;
    be = (await f.ok('POST', '/backends', { loadBalancerId: lb, name: 'web', mode: 'http', port: 80 })).id;
  });
  after(async () => {
    await f.close();
    removeDir(pki.dir);
  });

  /** Must be refused with 400 naming `name` and the rule; nothing (config, tokens) may change. */
  async function refusedName(method: string, p: string, body: unknown, rule: RegExp): Promise<void> {
    const was = await stored(f.fulcrum);
    const tokens = (await f.ok('GET', '/tokens')).length;
    const r: Answer = await f.api(method, p, body);
    const what = `${method} ${p} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`;
    assert.equal(r.status, 400, what);
    assert.equal(r.body.error.code, 'invalid', what);
    assert.equal(r.body.error.field, 'name', what);
    assert.ok(r.body.error.message.startsWith('name: '), what);
    assert.match(r.body.error.message, rule, what);
    assert.deepEqual(await stored(f.fulcrum), was, `nothing changed: ${what}`);
    assert.equal((await f.ok('GET', '/tokens')).length, tokens);
  }

  it('refuses hostile load balancer names on create and rename', async () => {
    for (const [name, rule] of HOSTILE) await refusedName('POST', '/load-balancers', { name }, rule);
    for (const [name, rule] of HOSTILE) await refusedName('PATCH', `/load-balancers/${lb}`, { name }, rule);
    assert.equal((await f.ok('GET', `/load-balancers/${lb}`)).name, 'shop');
  });

  it('refuses hostile names of every other kind (one rule)', async () => {
    const inst = (await f.ok('POST', '/instances', { name: 'vm-1', privateIp: '10.0.0.9' })).id;
    const srv = (await f.ok('POST', `/backends/${be}/servers`, { name: 's1', address: '10.0.0.1' })).id;
    const fe = (
      await f.ok('POST', '/frontends', {
        loadBalancerId: lb,
        name: 'www',
        protocol: 'http',
        port: 18098,
        enabled: false,
        defaultBackendId: be,
      })
    ).id;
    const ca = pki.ca('Names CA');
    for (const [name, rule] of HOSTILE.slice(0, 8).concat(HOSTILE.slice(8).filter((_, i) => i % 3 === 0))) {
      await refusedName('POST', '/backends', { loadBalancerId: lb, name, mode: 'http' }, rule);
      await refusedName('PATCH', `/backends/${be}`, { name }, rule);
      await refusedName('POST', `/backends/${be}/servers`, { name, address: '10.0.0.2' }, rule);
      await refusedName('PATCH', `/backends/${be}/servers/${srv}`, { name }, rule);
      await refusedName('POST', '/instances', { name, privateIp: '10.0.0.3' }, rule);
      await refusedName('PATCH', `/instances/${inst}`, { name }, rule);
      await refusedName(
        'POST',
        '/frontends',
        { loadBalancerId: lb, name, protocol: 'http', port: 18099, defaultBackendId: be },
        rule,
      );
      await refusedName('PATCH', `/frontends/${fe}`, { name }, rule);
      if (!/1 to 64/.test(rule.source)) {
        await refusedName('POST', '/certificates', { name, kind: 'ca', pem: ca.certPem }, rule);
      }
      await refusedName('POST', '/tokens', { name, role: 'viewer' }, rule);
    }
  });

  it('keeps the existing length limits (64, certificates 100)', async () => {
    const ca = pki.ca('Long CA');
    const c = await f.ok('POST', '/certificates', { name: 'c'.repeat(100), kind: 'ca', pem: ca.certPem });
    assert.equal(c.name.length, 100);
    const r: Answer = await f.api('POST', '/certificates', { name: 'c'.repeat(101), kind: 'ca', pem: ca.certPem });
    assert.equal(r.status, 400);
    await f.ok('POST', '/load-balancers', { name: 'l'.repeat(64) });
  });

  it('stores names in NFC and compares NFC forms for uniqueness', async () => {
    const nfd = 'cafe\u0301';
    const nfc = 'caf\u00e9';
    const created = await f.ok('POST', '/load-balancers', { name: nfd });
    assert.equal(created.name, nfc, 'answered in NFC');
    assert.equal((await f.ok('GET', `/load-balancers/${created.id}`)).name, nfc);
    const inStore = (await f.fulcrum.control.store.load()).loadBalancers.find((x) => x.id === created.id);
    assert.equal(inStore?.name, nfc, 'stored in NFC');

    const was = await stored(f.fulcrum);
    const dup: Answer = await f.api('POST', '/load-balancers', { name: nfc });
    assert.equal(dup.status, 409, JSON.stringify(dup.body));
    assert.equal(dup.body.error.field, 'name');
    assert.deepEqual(await stored(f.fulcrum), was);

    // Servers, renamed by PATCH, in NFD: stored NFC, and the NFD twin is a duplicate.
    const s = await f.ok('POST', `/backends/${be}/servers`, { name: 'x', address: '10.0.0.4' });
    assert.equal((await f.ok('PATCH', `/backends/${be}/servers/${s.id}`, { name: `${nfd}-1` })).name, `${nfc}-1`);
    const dupServer: Answer = await f.api('POST', `/backends/${be}/servers`, { name: `${nfc}-1`, address: '10.0.0.5' });
    assert.equal(dupServer.status, 409);

    // Tokens: NFC too, and "admin" stays reserved.
    const t = await f.ok('POST', '/tokens', { name: `${nfd}-token`, role: 'viewer' });
    assert.equal(t.name, `${nfc}-token`);
    const dupToken: Answer = await f.api('POST', '/tokens', { name: `${nfc}-token`, role: 'viewer' });
    assert.equal(dupToken.status, 409);

    // Certificates: NFC too.
    const cert = await f.ok('POST', '/certificates', { name: `${nfd}-ca`, kind: 'ca', pem: pki.ca('NFC CA').certPem });
    assert.equal(cert.name, `${nfc}-ca`);
  });

  it('accepts ordinary names: inner spaces, dots, dashes, non-Latin scripts, emoji', async () => {
    for (const name of ['web server 1', 'api.v2_blue-green', 'Ångström', '東京-1', 'שלום', 'مرحبا', 'shop 🛒']) {
      assert.equal((await f.ok('POST', '/instances', { name, privateIp: '10.0.1.1' })).name, name);
    }
  });
});

describe('names in the declarative file (issue 10)', () => {
  const file = (lbName: string, serverName = 's1') => `
loadBalancers:
  - name: "${lbName}"
    allowedNetworks: [10.0.0.0/8]
    backends:
      - name: web
        mode: http
        port: 80
        servers:
          - { name: "${serverName}", address: 10.0.0.1 }
`;

  it('serve --config refuses a hostile name naming its path; nothing is stored', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-names-'));
    t.after(() => removeDir(dir));
    const cfg = path.join(dir, 'shop.yaml');
    const start = async (configFile?: string) => (await startTestFulcrum({ dataDir: dir, configFile })).fulcrum;
    for (const [lbName, serverName, where, rule] of [
      ['shop/eu', 's1', /loadBalancers\[0\]\.name/, /"\/"/],
      ['shop', 's\\u202e1', /loadBalancers\[0\]\.backends\[0\]\.servers\[0\]\.name/, /bidirectional/],
      ['shop', 's\\u200b1', /servers\[0\]\.name/, /zero-width/],
      ['shop', 's\\t1', /servers\[0\]\.name/, /control characters/],
      ['shop ', 's1', /loadBalancers\[0\]\.name/, /whitespace/],
    ] as const) {
      writeFileSync(cfg, file(lbName, serverName));
      await assert.rejects(start(cfg), (err: Error) => {
        assert.match(err.message, /shop\.yaml: /);
        assert.match(err.message, where);
        assert.match(err.message, rule);
        return true;
      });
    }
    const f = await start();
    assert.equal(f.control.version, 0, 'nothing was stored');
    await f.close();

    // NFD in the file is stored NFC, and a second start with the same file changes nothing.
    writeFileSync(cfg, file('cafe\\u0301'));
    const g = await start(cfg);
    const v = g.control.version;
    assert.equal(g.control.state.loadBalancers[0]?.name, 'caf\u00e9');
    await g.close();
    const h = await start(cfg);
    assert.equal(h.control.version, v, 'the NFD file matches the NFC name: no change');
    await h.close();
  });

  it('fulcrum apply refuses a hostile name as a file error (exit 2) and changes nothing', async (t) => {
    const f = await startTestFulcrum({ t });
    const cfg = path.join(f.dataDir, 'shop.yaml');
    writeFileSync(cfg, file('shop', 'evil\\u2066'));
    const was = await stored(f.fulcrum);
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const code = await runApply({ file: cfg, url: f.fulcrum.apiUrl, token: f.token, dryRun: false, prune: false }, io);
    assert.equal(code, 2, lines.join('\n'));
    assert.match(lines.join('\n'), /servers\[0\]\.name: must not contain bidirectional/);
    assert.deepEqual(await stored(f.fulcrum), was);
  });
});

describe('names stored before the rule (issue 10)', () => {
  it('a restored name that breaks the rule is kept; other changes still work', async (t) => {
    const f = await startTestFulcrum({ t });
    const lb = (await f.ok('POST', '/load-balancers', { name: 'old' })).id;
    await f.stop();
    const store = SqliteStore.open(f.dataDir);
    const state = await store.load();
    await store.commit({
      baseVersion: state.version,
      upserts: [{ kind: 'loadBalancer', doc: { ...state.loadBalancers[0]!, name: 'eu/shop' } }],
      deletes: [],
      audit: {
        at: new Date().toISOString(),
        actor: 'test',
        action: 'update',
        resource: `load-balancer/${lb}`,
        before: null,
        after: null,
      },
    });
    await store.close();
    await f.restart();
    assert.equal((await f.ok('GET', `/load-balancers/${lb}`)).name, 'eu/shop');
    await f.ok('PATCH', `/load-balancers/${lb}`, { description: 'kept' });
    await f.ok('POST', '/load-balancers', { name: 'new' });
    const r: Answer = await f.api('PATCH', `/load-balancers/${lb}`, { name: 'eu/shop2' });
    assert.equal(r.status, 400);
    await f.ok('PATCH', `/load-balancers/${lb}`, { name: 'eu-shop' });
  });
});
