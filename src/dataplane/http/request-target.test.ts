import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalisePath, parseTarget, targetOut } from './request-target.ts';

describe('request target (RFC 9112 §3.2, RFC 3986 §6)', () => {
  test('normalises paths: unreserved escapes, hex case, dot segments, duplicate slashes', () => {
    const cases: [string, string][] = [
      ['/', '/'],
      ['/a/b', '/a/b'],
      ['/%69nternal', '/internal'],
      ['/%7e%7E', '/~~'],
      ['/a%2fb', '/a%2Fb'],
      ['/a/./b', '/a/b'],
      ['/a/b/..', '/a/'],
      ['/x/../internal', '/internal'],
      ['/../../x', '/x'],
      ['//internal', '/internal'],
      ['/a///b//', '/a/b/'],
      ['/%2e%2e/x', '/x'],
    ];
    for (const [raw, want] of cases) assert.equal(normalisePath(raw, true), want, raw);
    assert.equal(normalisePath('//a//b', false), '//a//b');
    assert.equal(normalisePath('/%zz', true), null);
    assert.equal(normalisePath('/%4', true), null);
  });

  test('forms: origin, absolute (authority returned), asterisk; fragments and CONNECT refused', () => {
    const o = targetOut();
    assert.equal(parseTarget('GET', '/a/../b?q=/../x', true, o).status, 0);
    assert.equal(o.target, '/b?q=/../x');
    assert.equal(o.path, '/b');
    parseTarget('GET', 'http://Example.com:8080/x/./y', true, o);
    assert.equal(o.authority, 'Example.com:8080');
    assert.equal(o.target, '/x/y');
    parseTarget('GET', 'https://h?x', true, o);
    assert.equal(o.target, '/?x');
    assert.equal(parseTarget('OPTIONS', '*', true, o).target, '*');
    assert.equal(parseTarget('GET', '*', true, o).status, 400);
    assert.equal(parseTarget('GET', '/a#f', true, o).status, 400);
    assert.equal(parseTarget('GET', 'http://u@h/', true, o).status, 400);
    assert.equal(parseTarget('CONNECT', 'h:443', true, o).status, 501);
    assert.equal(parseTarget('GET', 'ftp://h/', true, o).status, 400);
  });
});
