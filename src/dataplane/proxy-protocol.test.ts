import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import {
  encodeProxyV1,
  encodeProxyV2,
  MAX_V2_PAYLOAD,
  parseProxyHeader,
  readProxyHeader,
  V2_SIGNATURE,
} from './proxy-protocol.ts';

const v4 = { sourceAddress: '192.0.2.7', sourcePort: 51234, destinationAddress: '127.0.0.1', destinationPort: 8080 };
const v6 = { sourceAddress: '2001:db8::7', sourcePort: 443, destinationAddress: '::1', destinationPort: 80 };

function ok(buf: Buffer) {
  const r = parseProxyHeader(buf);
  assert.equal(r.status, 'ok', JSON.stringify(r));
  return r as Extract<typeof r, { status: 'ok' }>;
}

test('v1: encodes and parses TCP4, TCP6 and UNKNOWN', () => {
  assert.equal(encodeProxyV1(v4).toString(), 'PROXY TCP4 192.0.2.7 127.0.0.1 51234 8080\r\n');
  assert.equal(encodeProxyV1(v6).toString(), 'PROXY TCP6 2001:db8::7 ::1 443 80\r\n');
  assert.equal(encodeProxyV1(null).toString(), 'PROXY UNKNOWN\r\n');
  // an IPv4 client on a dual-stack socket is TCP4
  assert.equal(
    encodeProxyV1({ ...v4, sourceAddress: '::ffff:10.1.2.3', destinationAddress: '::ffff:127.0.0.1' }).toString(),
    'PROXY TCP4 10.1.2.3 127.0.0.1 51234 8080\r\n',
  );
  const r = ok(Buffer.concat([encodeProxyV1(v4), Buffer.from('GET / HTTP/1.1\r\n')]));
  assert.equal(r.length, encodeProxyV1(v4).length);
  assert.deepEqual(r.info.source, { family: 'tcp4', ...v4 });
  assert.deepEqual(ok(encodeProxyV1(v6)).info.source, { family: 'tcp6', ...v6 });
  assert.equal(ok(Buffer.from('PROXY UNKNOWN\r\n')).info.source, null);
  assert.equal(ok(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')).info.source, null);
});

test('v2: encodes and parses TCP4, TCP6, LOCAL and UNSPEC', () => {
  const a = encodeProxyV2(v4);
  assert.equal(a.length, 28);
  assert.deepEqual(a.subarray(0, 12), V2_SIGNATURE);
  assert.deepEqual(ok(a).info, { version: 2, source: { family: 'tcp4', ...v4 } });
  const b = encodeProxyV2(v6);
  assert.equal(b.length, 52);
  assert.deepEqual(ok(b).info, { version: 2, source: { family: 'tcp6', ...v6 } });
  const local = encodeProxyV2(null);
  assert.equal(local.length, 16);
  assert.equal(local[12], 0x20);
  assert.deepEqual(ok(local), { status: 'ok', info: { version: 2, source: null }, length: 16 });
  // TLVs after the addresses are skipped
  const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]);
  const withTlv = Buffer.concat([a, tlv]);
  withTlv.writeUInt16BE(12 + tlv.length, 14);
  const r = ok(Buffer.concat([withTlv, Buffer.from('rest')]));
  assert.equal(r.length, withTlv.length);
  // mapped IPv4 inside TCP6 reads as ::ffff:a.b.c.d
  const m = Buffer.from(b);
  m.fill(0, 16, 32);
  m[26] = 0xff;
  m[27] = 0xff;
  Buffer.from([10, 0, 0, 1]).copy(m, 28);
  assert.equal(ok(m).info.source?.sourceAddress, '::ffff:10.0.0.1');
  // an IPv4 client seen on a dual-stack socket is sent as TCP4
  const dual = encodeProxyV2({ ...v6, sourceAddress: '::ffff:10.0.0.1', destinationAddress: '::1' });
  assert.equal(ok(dual).info.source?.family, 'tcp4');
});

test('every proper prefix of a valid header asks for more', () => {
  for (const h of [encodeProxyV1(v4), encodeProxyV1(v6), encodeProxyV2(v4), encodeProxyV2(v6), encodeProxyV2(null)]) {
    for (let n = 0; n < h.length; n++) assert.equal(parseProxyHeader(h.subarray(0, n)).status, 'more', `${h} ${n}`);
  }
});

test('malformed v1 headers are refused', () => {
  const bad = [
    'GET / HTTP/1.1\r\n',
    'PROXY\r\n',
    'PROXYTCP4 1.2.3.4 1.2.3.4 1 2\r\n',
    'proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX',
    'PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n',
    'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n',
    'PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n',
    'PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n',
    'PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 0x10\r\n',
    'PROXY TCP4 ::1 ::1 1 2\r\n',
    'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
    'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n',
    'PROXY TCP6 :::1 ::1 1 2\r\n',
    'PROXY UNKNOWNX\r\n',
    'PROXY TCP4 1.2.3.4\t1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\u00ff\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\0\r\n',
  ];
  for (const s of bad) assert.equal(parseProxyHeader(Buffer.from(s, 'latin1')).status, 'invalid', JSON.stringify(s));
  // longer than 107 bytes without CRLF: refused as soon as 107 bytes are in, not buffered further
  const long = Buffer.from(`PROXY UNKNOWN ${'a'.repeat(200)}`);
  assert.equal(parseProxyHeader(long.subarray(0, 106)).status, 'more');
  assert.equal(parseProxyHeader(long.subarray(0, 107)).status, 'invalid');
  const line107 = Buffer.from(`PROXY UNKNOWN ${'a'.repeat(91)}\r\n`);
  assert.equal(line107.length, 107);
  assert.equal(parseProxyHeader(line107).status, 'ok');
  const line108 = Buffer.from(`PROXY UNKNOWN ${'a'.repeat(92)}\r\n`);
  assert.equal(parseProxyHeader(line108).status, 'invalid');
});

test('malformed v2 headers are refused', () => {
  const base = encodeProxyV2(v4);
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(base);
    f(b);
    return b;
  };
  const bad = [
    mutate((b) => (b[11] = 0x0b)), // signature
    mutate((b) => (b[0] = 0x0a)),
    mutate((b) => (b[12] = 0x11)), // version 1 in a v2 header
    mutate((b) => (b[12] = 0x31)), // version 3
    mutate((b) => (b[12] = 0x22)), // command 2
    mutate((b) => (b[13] = 0x12)), // UDP over IPv4
    mutate((b) => (b[13] = 0x31)), // UNIX stream
    mutate((b) => (b[13] = 0x41)), // unknown family
    mutate((b) => (b[13] = 0x10)), // AF_INET, UNSPEC transport
    mutate((b) => b.writeUInt16BE(11, 14)), // too short for TCP4
    mutate((b) => (b[13] = 0x21)), // TCP6 with a 12-byte block
    mutate((b) => b.writeUInt16BE(MAX_V2_PAYLOAD + 1, 14)), // beyond the bound
    mutate((b) => b.writeUInt16BE(0xffff, 14)),
  ];
  for (const [i, b] of bad.entries()) assert.equal(parseProxyHeader(b).status, 'invalid', `case ${i}`);
  assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])).status, 'invalid'); // a TLS record
  assert.equal(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0b])).status, 'invalid');
  // the largest accepted v2 header is parsed; its length is told before its bytes arrive
  const big = Buffer.alloc(16 + MAX_V2_PAYLOAD);
  base.copy(big, 0, 0, 28);
  big.writeUInt16BE(MAX_V2_PAYLOAD, 14);
  assert.equal(parseProxyHeader(big.subarray(0, 100)).status, 'more');
  assert.equal(parseProxyHeader(big).status, 'ok');
});

test('random bytes never throw and never pass as a header', () => {
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 5000; i++) {
    const n = rnd() % 120;
    const b = Buffer.alloc(n);
    for (let j = 0; j < n; j++) b[j] = rnd() & 0xff;
    if (i % 3 === 0 && n > 6) Buffer.from('PROXY ').copy(b); // start like v1
    if (i % 3 === 1 && n > 16) V2_SIGNATURE.copy(b); // start like v2
    const r = parseProxyHeader(b);
    if (r.status === 'ok') {
      assert.ok(r.length <= b.length);
      if (r.info.version === 1) assert.ok(r.length <= 107);
    }
  }
});

test('readProxyHeader: header split over writes, rest put back; garbage and silence refused', async () => {
  const got: string[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (s) => {
    readProxyHeader(s, 300, (info, reason) => {
      if (info === null) {
        got.push(`refused: ${reason}`);
        s.destroy();
        return;
      }
      s.once('data', (d: Buffer) => {
        got.push(`${info.source?.sourceAddress}|${d.toString()}`);
        s.destroy();
      });
      s.resume();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const run = async (chunks: Buffer[], gap = 5): Promise<void> => {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    const closed = new Promise((r) => c.once('close', r));
    await new Promise((r) => c.once('connect', r));
    for (const ch of chunks) {
      c.write(ch);
      await new Promise((r) => setTimeout(r, gap));
    }
    await closed;
  };
  try {
    const h = encodeProxyV2(v6);
    await run([h.subarray(0, 5), h.subarray(5, 20), Buffer.concat([h.subarray(20), Buffer.from('hello')])]);
    await run([Buffer.from('PROXY TCP4 10.9.8.7 127.0.0.1 1 2\r\nabc')]);
    await run([Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
    await run([]); // silence: the read times out
    assert.deepEqual(got, [
      '2001:db8::7|hello',
      '10.9.8.7|abc',
      'refused: not a PROXY protocol header',
      'refused: timed out waiting for a PROXY header',
    ]);
  } finally {
    server.close();
  }
});
