import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import {
  type ApiEndpoint,
  addressGuard,
  backendAddressProblem,
  embeddedIPv4,
  frontendBindProblem,
  parseCidr,
  parseIPv4Strict,
  parseIPv6,
  parseIp,
  parseNetworkList,
  reachesApi,
} from './address-guard.ts';

const guard = addressGuard();

describe('parseIPv4Strict', () => {
  it('reads dotted quads', () => {
    assert.equal(parseIPv4Strict('0.0.0.0'), 0n);
    assert.equal(parseIPv4Strict('127.0.0.1'), 0x7f000001n);
    assert.equal(parseIPv4Strict('255.255.255.255'), 0xffffffffn);
    assert.equal(parseIPv4Strict('10.20.30.40'), 0x0a141e28n);
  });
  it('refuses every other notation', () => {
    for (const bad of [
      '127.1',
      '127.0.1',
      '0x7f.0.0.1',
      '0x7f000001',
      '0177.0.0.1',
      '010.0.0.1',
      '10.0.0.01',
      '2130706433',
      '127.0.0.1 ',
      ' 127.0.0.1',
      '127.0.0.1.',
      '256.0.0.1',
      '1.2.3.4.5',
      '１２７.0.0.1',
      '127.0.0.1/32',
      '',
      'localhost',
    ]) {
      assert.equal(parseIPv4Strict(bad), undefined, bad);
    }
  });
});

describe('parseIPv6', () => {
  it('reads compressed, full, mixed and upper-case forms to one value', () => {
    const v = parseIPv6('::ffff:a9fe:a9fe');
    assert.equal(v, 0xffffa9fea9fen);
    for (const same of [
      '::FFFF:A9FE:A9FE',
      '::ffff:169.254.169.254',
      '0:0:0:0:0:ffff:169.254.169.254',
      '0000:0000:0000:0000:0000:ffff:a9fe:a9fe',
      '::0:ffff:a9fe:a9fe',
    ]) {
      assert.equal(parseIPv6(same), v, same);
    }
    assert.equal(parseIPv6('::'), 0n);
    assert.equal(parseIPv6('::1'), 1n);
    assert.equal(parseIPv6('fe80::1%eth0'), (0xfe80n << 112n) | 1n);
    assert.equal(parseIPv6('1:2:3:4:5:6:7:8'), 0x00010002000300040005000600070008n);
    assert.equal(parseIPv6('1::'), 1n << 112n);
    assert.equal(parseIPv6('1::1.2.3.4'), (1n << 112n) | 0x01020304n);
  });
  it('refuses what is not an IPv6 address, like node:net', () => {
    for (const bad of [
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '::ffff:127.1',
      '::ffff:010.0.0.1',
      '[::1]',
      'fe80::1%',
      '12345::',
      ':::',
      '',
      '1.2.3.4',
    ]) {
      assert.equal(parseIPv6(bad), undefined, bad);
      if (bad !== '') assert.equal(isIPv6(bad), false, `node:net agrees on ${bad}`);
    }
  });
});

describe('embeddedIPv4', () => {
  it('finds the IPv4 address of mapped, translated, compatible and NAT64 forms', () => {
    for (const text of [
      '::ffff:169.254.169.254',
      '::ffff:0:169.254.169.254',
      '::169.254.169.254',
      '64:ff9b::a9fe:a9fe',
    ]) {
      assert.equal(embeddedIPv4(parseIp(text)!), 0xa9fea9fen, text);
    }
    assert.equal(embeddedIPv4(parseIp('::1')!), undefined);
    assert.equal(embeddedIPv4(parseIp('::')!), undefined);
    assert.equal(embeddedIPv4(parseIp('2001:db8::1')!), undefined);
    assert.equal(embeddedIPv4(parseIp('10.0.0.1')!), undefined);
  });
});

describe('parseCidr and parseNetworkList', () => {
  it('parses IPv4 and IPv6 blocks, host bits ignored', () => {
    assert.deepEqual(parseCidr('169.254.1.7/16'), { text: '169.254.1.7/16', family: 4, base: 0xa9fe0000n, bits: 16 });
    assert.equal(parseCidr('fd00:ec2::/64')?.bits, 64);
    assert.equal(parseCidr('0.0.0.0/0')?.base, 0n);
  });
  it('refuses bare addresses, bad prefixes and loose IPv4', () => {
    for (const bad of [
      '169.254.0.0',
      '169.254.0.0/33',
      '::/129',
      '10.0.0.0/08',
      '10.0.0.0/',
      '010.0.0.0/8',
      'x/8',
      'fe80::%1/10',
    ]) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });
  it('splits on commas, trims, names the flag and the item when one is bad', () => {
    assert.deepEqual(
      parseNetworkList(' 169.254.0.0/16 , fd00:ec2::/64,').map((c) => c.text),
      ['169.254.0.0/16', 'fd00:ec2::/64'],
    );
    assert.deepEqual(parseNetworkList(['10.0.0.0/8,11.0.0.0/8']).length, 2);
    assert.deepEqual(parseNetworkList(''), []);
    assert.throws(
      () => parseNetworkList('169.254.0.0/16,nonsense'),
      /--allow-backend-networks: "nonsense" is not a CIDR/,
    );
  });
});

describe('backendAddressProblem: the ranges', () => {
  const refused: [string, RegExp][] = [
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['::', /unspecified/],
    ['169.254.169.254', /link-local/],
    ['169.254.0.23', /link-local/],
    ['fe80::1', /link-local/],
    ['FE80::a9fe:a9fe', /link-local/],
    ['febf::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['ff02::1', /multicast/],
    ['ff05::1:3', /multicast/],
    ['240.0.0.1', /reserved or broadcast/],
    ['255.255.255.255', /reserved or broadcast/],
    ['100.100.100.200', /metadata/],
    ['168.63.129.16', /metadata/],
    ['192.0.0.192', /metadata/],
    ['fd00:ec2::254', /metadata/],
    ['FD00:EC2:0::254', /metadata/],
    ['::ffff:169.254.169.254', /link-local/],
    ['::ffff:a9fe:a9fe', /link-local/],
    ['::FFFF:A9FE:A9FE', /link-local/],
    ['0:0:0:0:0:ffff:a9fe:a9fe', /link-local/],
    ['::ffff:0:a9fe:a9fe', /link-local/],
    ['::169.254.169.254', /link-local/],
    ['64:ff9b::169.254.169.254', /link-local/],
    ['::ffff:0.0.0.0', /unspecified/],
    ['::ffff:255.255.255.255', /reserved or broadcast/],
    ['::ffff:224.0.0.251', /multicast/],
    ['::ffff:100.100.100.200', /metadata/],
    ['::ffff:6464:64c8', /metadata/],
  ];
  for (const [address, rule] of refused) {
    it(`refuses ${address}`, () => {
      const p = backendAddressProblem(address, 80, guard);
      assert.ok(p, address);
      assert.match(p, rule);
      assert.match(p, /never a backend/);
      assert.ok(p.startsWith(address), p);
    });
  }
  it('names the IPv4 address behind an IPv6 spelling', () => {
    assert.match(backendAddressProblem('::ffff:a9fe:a9fe', 80, guard)!, /the IPv4 address 169\.254\.169\.254/);
  });
  it('accepts ordinary backends, loopback included', () => {
    for (const ok of [
      '127.0.0.1',
      '127.0.0.2',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '100.64.0.1',
      '8.8.8.8',
      '::1',
      '::ffff:10.0.0.1',
      '2001:db8::1',
      'fd00::1',
      'fd00:ec2::253',
      '64:ff9b::10.0.0.1',
      '223.255.255.255',
      '1.0.0.0',
    ]) {
      assert.equal(backendAddressProblem(ok, 80, guard), undefined, ok);
    }
  });
  it('leaves unparseable text to the format rules', () => {
    assert.equal(backendAddressProblem('0x7f.1', 80, guard), undefined);
  });
  it('lets --allow-backend-networks through, mapped spellings included', () => {
    const g = addressGuard(parseNetworkList('169.254.0.0/16,ff00::/8'));
    assert.equal(backendAddressProblem('169.254.169.254', 80, g), undefined);
    assert.equal(backendAddressProblem('::ffff:a9fe:a9fe', 80, g), undefined);
    assert.equal(backendAddressProblem('ff02::1', 80, g), undefined);
    assert.match(backendAddressProblem('224.0.0.1', 80, g)!, /multicast/);
    assert.match(backendAddressProblem('fe80::1', 80, g)!, /link-local/);
  });
});

describe("the admin API's own address", () => {
  const loop: ApiEndpoint = { addresses: ['127.0.0.1'], port: 8080 };
  it('an API on loopback owns every loopback spelling with its port', () => {
    const g = addressGuard([], () => loop);
    for (const a of [
      '127.0.0.1',
      '127.0.0.2',
      '127.255.255.254',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '0.0.0.0',
      '::',
    ]) {
      const p = backendAddressProblem(a, 8080, g);
      assert.match(p ?? '', /admin API's own address and port/, a);
    }
    assert.equal(backendAddressProblem('127.0.0.1', 8081, g), undefined);
    assert.equal(backendAddressProblem('127.0.0.1', null, g), undefined);
    assert.equal(backendAddressProblem('10.0.0.1', 8080, g), undefined);
  });
  it('no allow list lifts it', () => {
    const g = addressGuard(parseNetworkList('0.0.0.0/0,::/0'), () => loop);
    assert.match(backendAddressProblem('127.0.0.1', 8080, g)!, /admin API/);
  });
  it('`localhost` is loopback; a wildcard API also owns local addresses', () => {
    assert.ok(reachesApi('::1', 9000, { addresses: ['localhost'], port: 9000 }));
    const any: ApiEndpoint = { addresses: ['0.0.0.0'], port: 9000, localAddresses: ['10.1.2.3', 'fe80::5'] };
    assert.ok(reachesApi('127.0.0.1', 9000, any));
    assert.ok(reachesApi('10.1.2.3', 9000, any));
    assert.ok(reachesApi('::ffff:10.1.2.3', 9000, any));
    assert.ok(!reachesApi('10.1.2.4', 9000, any));
  });
  it('a specific API address owns that address only', () => {
    const api: ApiEndpoint = { addresses: ['10.0.0.5'], port: 8080 };
    assert.ok(reachesApi('10.0.0.5', 8080, api));
    assert.ok(reachesApi('::ffff:a00:5', 8080, api));
    assert.ok(!reachesApi('127.0.0.1', 8080, api));
    assert.ok(!reachesApi('10.0.0.6', 8080, api));
  });
  it('an unknown endpoint (before listen on port 0) checks nothing', () => {
    assert.equal(backendAddressProblem('127.0.0.1', 8080, addressGuard()), undefined);
  });
});

describe('frontendBindProblem', () => {
  const g = addressGuard([], () => ({ addresses: ['127.0.0.1'], port: 8080 }));
  it('refuses the same address or a wildcard on the API port (tcp transports)', () => {
    for (const [addr, proto] of [
      ['127.0.0.1', 'http'],
      ['0.0.0.0', 'tcp'],
      ['::', 'https'],
      ['::ffff:127.0.0.1', 'http'],
    ] as const) {
      assert.match(
        frontendBindProblem(addr, 8080, proto, g) ?? '',
        /bindAddress .* and port 8080 are the admin API's/,
        addr,
      );
    }
  });
  it('accepts another port, another address, or udp', () => {
    assert.equal(frontendBindProblem('127.0.0.1', 8081, 'http', g), undefined);
    assert.equal(frontendBindProblem('127.0.0.2', 8080, 'http', g), undefined);
    assert.equal(frontendBindProblem('0.0.0.0', 8080, 'udp', g), undefined);
  });
  it('a wildcard API clashes with every address on its port', () => {
    const w = addressGuard([], () => ({ addresses: ['::'], port: 8080 }));
    assert.ok(frontendBindProblem('10.0.0.1', 8080, 'tcp', w));
  });
});
