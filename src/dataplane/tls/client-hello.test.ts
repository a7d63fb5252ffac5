import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import { matchSniRule, parseClientHello } from './client-hello.ts';

/** Captures the first bytes a real node:tls client sends (its ClientHello) through a loopback server. */
async function captureHello(servername: string | undefined): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      const parts: Buffer[] = [];
      const timer = setTimeout(() => {
        s.destroy();
        resolve(Buffer.concat(parts));
      }, 300);
      s.on('data', (d: Buffer) => {
        parts.push(d);
        if (parseClientHello(Buffer.concat(parts)).status !== 'more') {
          clearTimeout(timer);
          s.destroy();
          resolve(Buffer.concat(parts));
        }
      });
    });
  });
  const c = tls.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

/** Re-frames one handshake message into records of at most `size` bytes of payload (RFC 8446 §5.1). */
function fragment(hello: Buffer, size: number): Buffer {
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const part = body.subarray(i, i + size);
    const h = Buffer.from([22, 3, 1, 0, 0]);
    h.writeUInt16BE(part.length, 3);
    out.push(h, part);
  }
  return Buffer.concat(out);
}

describe('ClientHello SNI parser (T4, RFC 6066 §3)', () => {
  it('reads the server name of a real ClientHello, at every split point', async () => {
    const hello = await captureHello('Shop.Example.test');
    assert.deepEqual(parseClientHello(hello), { status: 'ok', serverName: 'shop.example.test' });
    for (let cut = 0; cut < hello.length; cut++) {
      assert.deepEqual(parseClientHello(hello.subarray(0, cut)), { status: 'more' }, `prefix ${cut}`);
    }
  });
  it('reassembles a ClientHello fragmented over several records', async () => {
    const hello = await captureHello('frag.test');
    const frag = fragment(hello, 50);
    assert.ok(frag.length > hello.length);
    assert.deepEqual(parseClientHello(frag), { status: 'ok', serverName: 'frag.test' });
    for (let cut = 0; cut < frag.length; cut += 7) assert.equal(parseClientHello(frag.subarray(0, cut)).status, 'more');
  });
  it('answers null without SNI (IP literal)', async () => {
    assert.deepEqual(parseClientHello(await captureHello(undefined)), { status: 'ok', serverName: null });
  });
  it('refuses what is not a ClientHello, and bounds the size', () => {
    assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')).status, 'invalid');
    assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).status, 'invalid'); // ServerHello
    assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 0])).status, 'invalid');
    const huge = Buffer.alloc(70 * 1024);
    for (let i = 0; i + 5 <= huge.length; i += 16389) {
      huge[i] = 22;
      huge[i + 1] = 3;
      huge.writeUInt16BE(16384, i + 3);
    }
    huge[5] = 1;
    huge.writeUIntBE(0xffffff, 6, 3);
    assert.equal(parseClientHello(huge).status, 'invalid');
  });
  it('matches exact rules before one-label wildcards', () => {
    const rules = [{ serverName: '*.shop.test' }, { serverName: 'api.shop.test' }, { serverName: 'x.test' }];
    assert.equal(matchSniRule(rules, 'api.shop.test'), rules[1]);
    assert.equal(matchSniRule(rules, 'www.shop.test'), rules[0]);
    assert.equal(matchSniRule(rules, 'a.b.shop.test'), undefined);
    assert.equal(matchSniRule(rules, 'shop.test'), undefined);
    assert.equal(matchSniRule(rules, null), undefined);
  });
});
