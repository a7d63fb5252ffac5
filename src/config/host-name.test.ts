import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHostName, isSrvName, parseResolverAddress } from './host-name.ts';

describe('host names as server addresses (issue 15 point 2)', () => {
  it('takes RFC 1123 names', () => {
    for (const ok of [
      'api.internal',
      'api-1.internal',
      'localhost',
      'a.b.c.',
      'xn--bcher-kva.example',
      '1a.example',
      `${'a'.repeat(63)}.test`,
    ])
      assert.equal(isHostName(ok), true, ok);
  });

  it('refuses what a resolver could read as another thing', () => {
    for (const bad of [
      '',
      '.',
      '127.1',
      '10.0.0.1',
      '2130706433',
      '0x7f000001',
      '0x7f.1',
      'a..b',
      '-a.test',
      'a-.test',
      'a_b.test',
      'a b.test',
      'a\u0000.test',
      'bücher.test',
      `${'a'.repeat(64)}.test`,
      `${'a.'.repeat(127)}ab`,
    ])
      assert.equal(isHostName(bad), false, JSON.stringify(bad));
  });

  it('takes SRV names with underscore labels', () => {
    assert.equal(isSrvName('_http._tcp.api.internal'), true);
    assert.equal(isSrvName('__x.test'), false);
    assert.equal(isSrvName('_http.._tcp.x'), false);
  });

  it('checks --resolver IP:port', () => {
    assert.equal(parseResolverAddress('127.0.0.1:53'), '127.0.0.1:53');
    assert.equal(parseResolverAddress('[fd00::2]:5353'), '[fd00::2]:5353');
    for (const bad of ['127.0.0.1', '127.1:53', 'dns.internal:53', '127.0.0.1:0', '127.0.0.1:70000', '[::g]:53'])
      assert.throws(() => parseResolverAddress(bad), /--resolver/, bad);
  });
});
