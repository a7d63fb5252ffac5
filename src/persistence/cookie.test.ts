import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FulcrumError } from '../core/errors.ts';
import { buildSetCookie, CookieSigner, findCookie, findSetCookie, serverToken } from './cookie.ts';

const KEY = 'k'.repeat(32);
const NOW = Date.UTC(2026, 0, 1);
const nowS = NOW / 1000;

function flip(s: string, i: number): string {
  const c = s[i] === 'A' ? 'B' : 'A';
  return s.slice(0, i) + c + s.slice(i + 1);
}

describe('cookie signing (P2)', () => {
  const signer = new CookieSigner([KEY]);
  const token = serverToken('b1', 'server-id-1');

  test('round trip: token and expiry come back; the value never holds the id or an address', () => {
    const v = signer.sign('b1', token, nowS + 600);
    assert.deepEqual(signer.verify(v, 'b1', NOW), { token, expiresAt: nowS + 600 });
    assert.ok(!v.includes('server-id-1'));
    assert.match(v, /^[A-Za-z0-9_-]{12}\.[0-9a-z]+\.[A-Za-z0-9_-]{22}$/);
    assert.equal(serverToken('b1', 'server-id-1'), token, 'deterministic across processes (P5)');
    assert.notEqual(serverToken('b2', 'server-id-1'), token);
  });

  test('tampered, forged, truncated, other-backend, other-key and expired values are refused', () => {
    const v = signer.sign('b1', token, nowS + 600);
    for (let i = 0; i < v.length; i++) {
      if (v[i] === '.') continue;
      assert.equal(signer.verify(flip(v, i), 'b1', NOW), undefined, `flipped char ${i}`);
    }
    const [tok, , mac] = v.split('.') as [string, string, string];
    assert.equal(
      signer.verify(`${tok}.${(nowS + 99_999).toString(36)}.${mac}`, 'b1', NOW),
      undefined,
      'extended expiry',
    );
    assert.equal(signer.verify(`${serverToken('b1', 'other')}.${v.split('.')[1]}.${mac}`, 'b1', NOW), undefined);
    assert.equal(signer.verify(v.slice(0, -1), 'b1', NOW), undefined);
    const last = v.length - 1;
    assert.equal(
      signer.verify(v.slice(0, last) + String.fromCharCode(v.charCodeAt(last) + 0x100), 'b1', NOW),
      undefined,
    );
    assert.equal(signer.verify(`${v}x`, 'b1', NOW), undefined);
    for (const junk of ['', '.', '..', 'a.b.c', `${tok}..${mac}`, `.${v}`, 'x'.repeat(500)]) {
      assert.equal(signer.verify(junk, 'b1', NOW), undefined, JSON.stringify(junk));
    }
    assert.equal(signer.verify(v, 'b2', NOW), undefined, 'other backend');
    assert.equal(new CookieSigner(['z'.repeat(32)]).verify(v, 'b1', NOW), undefined, 'other key');
    assert.equal(signer.verify(v, 'b1', NOW + 600_000), undefined, 'expired');
    assert.ok(signer.verify(v, 'b1', NOW + 599_000), 'one second before expiry');
  });

  test('session cookies (expiry 0) do not expire; key rotation verifies old cookies and signs with the new key', () => {
    const session = signer.sign('b1', token, 0);
    assert.deepEqual(signer.verify(session, 'b1', NOW + 10 * 365 * 86_400_000), { token, expiresAt: 0 });
    const rotated = new CookieSigner(['n'.repeat(32), KEY]);
    assert.ok(rotated.verify(session, 'b1', NOW));
    const fresh = rotated.sign('b1', token, 0);
    assert.equal(signer.verify(fresh, 'b1', NOW), undefined);
  });

  test('bad keys are refused naming the field', () => {
    assert.throws(
      () => new CookieSigner([]),
      (e) => e instanceof FulcrumError && e.field === 'cookieKeys',
    );
    assert.throws(
      () => new CookieSigner([KEY, 'short']),
      (e) => e instanceof FulcrumError && e.field === 'cookieKeys[1]' && /at least 16 bytes/.test(e.message),
    );
    assert.ok(new CookieSigner([new Uint8Array(16)]));
  });
});

describe('Set-Cookie and Cookie headers', () => {
  test('buildSetCookie: attributes, Max-Age from the timeout, Secure on https, none for session cookies', () => {
    assert.equal(
      buildSetCookie('FULCRUM_SRV', 'v', { timeoutSeconds: 1800, secure: true }),
      'FULCRUM_SRV=v; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax; Secure',
    );
    assert.equal(buildSetCookie('S', 'v', { timeoutSeconds: 0, secure: false }), 'S=v; Path=/; HttpOnly; SameSite=Lax');
  });

  test('findCookie finds exactly the named cookie', () => {
    const h = 'XFULCRUM_SRV=no; FULCRUM_SRV2=no;FULCRUM_SRV = "yes" ; other=1; FULCRUM_SRV=second';
    assert.equal(findCookie(h, 'FULCRUM_SRV'), 'yes');
    assert.equal(findCookie('a=1; b=2', 'b'), '2');
    assert.equal(findCookie('a=1; b=2', 'a'), '1');
    assert.equal(findCookie('a=1; b=', 'b'), '');
    assert.equal(findCookie('a=1; bb=2', 'b'), undefined);
    assert.equal(findCookie('a=x=b; b', 'b'), undefined);
    assert.equal(findCookie('', 'b'), undefined);
    assert.equal(findCookie(undefined, 'b'), undefined);
    assert.equal(findCookie(['a=1', 'b=2'], 'b'), '2');
    assert.equal(findCookie('fulcrum_srv=1', 'FULCRUM_SRV'), undefined, 'names are case-sensitive');
  });

  test('findSetCookie: last wins, other names and deletions are ignored', () => {
    assert.equal(findSetCookie('JSESSIONID=abc; Path=/; HttpOnly', 'JSESSIONID'), 'abc');
    assert.equal(findSetCookie(['JSESSIONID=a', 'x=1', 'JSESSIONID=b; Max-Age=60'], 'JSESSIONID'), 'b');
    assert.equal(findSetCookie(['JSESSIONIDX=a'], 'JSESSIONID'), undefined);
    assert.equal(findSetCookie('JSESSIONID=; Path=/', 'JSESSIONID'), undefined);
    assert.equal(findSetCookie('JSESSIONID=a; max-age=0', 'JSESSIONID'), undefined);
    assert.equal(findSetCookie('JSESSIONID=a; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'JSESSIONID', NOW), undefined);
    assert.equal(findSetCookie('JSESSIONID=a; Expires=Fri, 01 Jan 2100 00:00:00 GMT', 'JSESSIONID', NOW), 'a');
    assert.equal(findSetCookie('JSESSIONID=max-age=0', 'JSESSIONID'), 'max-age=0');
    assert.equal(findSetCookie(undefined, 'JSESSIONID'), undefined);
  });
});
