import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';
import { freePort } from './helpers/plane.ts';
import { TestPki } from './tls-pki.ts';

describe('certificates API (T1, T3)', () => {
  let f: TestFulcrum;
  const pki = new TestPki();
  const ca = pki.ca('Fulcrum Test CA');
  const leaf = pki.leaf(ca, { cn: 'shop.test', sans: ['DNS:shop.test', 'DNS:*.shop.test'] });
  const other = pki.leaf(ca, { cn: 'other.test', ec: true });
  let lbId = '';
  let beId = '';

  before(async () => {
    f = await startTestFulcrum();
    const lb = await f.ok('POST', '/load-balancers', { name: 'lb', allowedNetworks: ['127.0.0.0/8'] });
    lbId = lb.id;
    beId = (await f.ok('POST', '/backends', { loadBalancerId: lbId, name: 'web', mode: 'http', port: 8080 })).id;
  });
  after(async () => {
    await f.close();
    pki.cleanup();
  });

  async function refused(body: unknown, field: string, text: RegExp): Promise<void> {
    const v = f.fulcrum.control.version;
    const n = (await f.ok('GET', '/certificates')).length;
    const r = await f.api('POST', '/certificates', body);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.field, field);
    assert.match(r.body.error.message, text);
    assert.equal(f.fulcrum.control.version, v, 'nothing changed');
    assert.equal((await f.ok('GET', '/certificates')).length, n);
  }

  it('uploads a server certificate: answer names subjects, issuer, dates, fingerprint; never the key', async () => {
    const r = await f.api('POST', '/certificates', { name: 'shop', kind: 'server', pem: leaf.bundle });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const c = r.body;
    assert.deepEqual(c.subjects, ['shop.test', '*.shop.test']);
    assert.equal(c.issuer, 'CN=Fulcrum Test CA');
    assert.equal(c.kind, 'server');
    assert.match(c.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok(Date.parse(c.notAfter) > Date.now());
    assert.deepEqual(c.warnings, []);
    assert.equal(typeof c.configVersion, 'number');
    const text = JSON.stringify(r.body);
    assert.ok(!text.includes('PRIVATE KEY') && !('keyEncrypted' in c), 'no key in the answer');
    const one = await f.ok('GET', `/certificates/${c.id}`);
    assert.equal(one.fingerprintSha256, c.fingerprintSha256);
    assert.ok(!JSON.stringify(one).includes('PRIVATE KEY'));
    const audit = JSON.stringify(await f.ok('GET', '/audit'));
    assert.ok(!audit.includes('PRIVATE KEY') && !audit.includes('keyEncrypted'), 'audit holds no key');
  });

  it('keeps private keys encrypted at rest, with a 0600 secret-key file', async () => {
    const keyFile = path.join(f.dataDir, 'secret-key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const keyLine = leaf.keyPem.split('\n')[1] as string;
    for (const name of readdirSync(f.dataDir)) {
      const p = path.join(f.dataDir, name);
      if (!statSync(p).isFile()) continue;
      const bytes = readFileSync(p, 'latin1');
      assert.ok(!bytes.includes('PRIVATE KEY'), `${name} holds no clear key`);
      assert.ok(!bytes.includes(keyLine), `${name} holds no clear key bytes`);
    }
  });

  it('uploads a CA bundle and an expired certificate (accepted with a warning)', async () => {
    const c = await f.ok('POST', '/certificates', { name: 'ca', kind: 'ca', pem: ca.certPem + other.certPem });
    assert.deepEqual(c.subjects, ['Fulcrum Test CA', 'other.test']);
    assert.ok(
      c.warnings.some((w: string) => /not a CA certificate/.test(w)),
      JSON.stringify(c.warnings),
    );
    const old = pki.leaf(ca, { cn: 'old.test', startDate: '20200101000000Z', endDate: '20210101000000Z' });
    const e = await f.ok('POST', '/certificates', { name: 'old', kind: 'server', pem: old.bundle });
    assert.ok(
      e.warnings.some((w: string) => /expired on 2021-01-01/.test(w)),
      JSON.stringify(e.warnings),
    );
    const later = pki.leaf(ca, { cn: 'later.test', startDate: '20990101000000Z', endDate: '20991231000000Z' });
    const l = await f.ok('POST', '/certificates', { name: 'later', kind: 'server', pem: later.bundle });
    assert.ok(l.warnings.some((w: string) => /not valid before 2099/.test(w)));
    assert.ok((await f.ok('GET', `/certificates/${e.id}`)).warnings.some((w: string) => /expired/.test(w)));
  });

  it('refuses bad uploads with 400 naming pem, and changes nothing', async () => {
    await refused({ name: 'x', kind: 'server', pem: leaf.certPem + other.keyPem }, 'pem', /does not match/);
    await refused({ name: 'x', kind: 'server', pem: leaf.bundle.slice(0, 400) }, 'pem', /truncated/);
    await refused({ name: 'x', kind: 'server', pem: 'hello, not a certificate' }, 'pem', /no PEM block/);
    await refused(
      // Drop one whole base64 line of the body: still valid base64, no longer valid DER.
      {
        name: 'x',
        kind: 'server',
        pem: leaf.certPem
          .split('\n')
          .filter((_, i) => i !== 3)
          .join('\n'),
      },
      'pem',
      /cannot be parsed/,
    );
    await refused({ name: 'x', kind: 'ca', pem: ca.bundle }, 'pem', /must not contain a private key/);
    await refused({ name: 'x', kind: 'server', pem: leaf.certPem }, 'pem', /needs its private key/);
    await refused(
      { name: 'x', kind: 'server', pem: leaf.certPem + pki.encryptedKey(leaf.keyPem) },
      'pem',
      /encrypted with a passphrase/,
    );
    const r = await f.api('POST', '/certificates', { name: 'x', kind: 'other', pem: leaf.bundle });
    assert.equal(r.status, 400);
  });

  it('refuses an https frontend without a certificate or with a CA bundle; 409 deleting a used one', async () => {
    const port = await freePort();
    const fe = { loadBalancerId: lbId, name: 'tls', protocol: 'https', port, defaultBackendId: beId };
    const v = f.fulcrum.control.version;
    const r = await f.api('POST', '/frontends', fe);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'certificateIds');
    assert.match(r.body.error.message, /at least one server certificate/);
    const certs = await f.ok('GET', '/certificates');
    const caId = certs.find((c: { name: string }) => c.name === 'ca').id;
    const shopId = certs.find((c: { name: string }) => c.name === 'shop').id;
    const r2 = await f.api('POST', '/frontends', { ...fe, certificateIds: [caId] });
    assert.equal(r2.status, 400);
    assert.match(r2.body.error.message, /CA bundle, not a server certificate/);
    assert.equal(f.fulcrum.control.version, v);
    const created = await f.ok('POST', '/frontends', { ...fe, certificateIds: [shopId] });
    const d = await f.api('DELETE', `/certificates/${shopId}`);
    assert.equal(d.status, 409);
    assert.match(d.body.error.message, /used by frontend "tls"/);
    await f.ok('DELETE', `/frontends/${created.id}`);
    const gone = await f.ok('DELETE', `/certificates/${shopId}`);
    assert.equal(gone.id, shopId);
    assert.equal((await f.api('GET', `/certificates/${shopId}`)).status, 404);
  });
});
