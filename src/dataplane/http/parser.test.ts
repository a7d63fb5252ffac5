import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BodyFramer, Framing, findHeadEnd, HttpParseError, parseHead } from './parser.ts';
import { hostOf } from './route.ts';

function head(text: string, request = true) {
  const buf = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buf, 0, buf.length, 64 * 1024, 431);
  assert.ok(end > 0, 'head complete');
  return parseHead(buf, 0, end, request);
}

function refuses(text: string, status = 400, request = true): void {
  assert.throws(
    () => head(text, request),
    (e: unknown) => e instanceof HttpParseError && e.status === status,
  );
}

describe('parseHead', () => {
  test('request: method, target, version, headers (case kept, lower-cased copy), framing fields', () => {
    const h = head(
      'POST /a?b=1 HTTP/1.1\r\nHost: x.com\r\nX-Mixed:  v  \r\nContent-Length: 5\r\nConnection: Keep-Alive, X-Drop\r\n\r\n',
    );
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/a?b=1');
    assert.equal(h.minor, 1);
    assert.deepEqual(h.names, ['Host', 'X-Mixed', 'Content-Length', 'Connection']);
    assert.deepEqual(h.lower, ['host', 'x-mixed', 'content-length', 'connection']);
    assert.equal(h.values[1], 'v', 'OWS trimmed');
    assert.equal(h.contentLength, 5);
    assert.equal(h.connKeepAlive, true);
    assert.deepEqual(h.connOther, ['x-drop']);
    assert.equal(h.host, 'x.com');
  });

  test('leading empty lines before the request line are ignored (RFC 9112 §2.2)', () => {
    assert.equal(head('\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n').method, 'GET');
  });

  test('response: status, reason, chunked final coding, until-close coding', () => {
    const r = head('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', false);
    assert.equal(r.status, 404);
    assert.equal(r.reason, 'Not Found');
    assert.equal(r.chunked, true);
    const c = head('HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', false);
    assert.equal(c.chunked, false);
    assert.equal(c.transferEncoding, 'gzip');
    assert.equal(head('HTTP/1.1 204\r\n\r\n', false).status, 204);
  });

  test('refusals', () => {
    refuses('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 01x\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n');
    refuses('GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n');
    refuses('GET / HTTP/1.1\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n');
    refuses('GET / HTTP/2.0\r\nHost: a\r\n\r\n');
    refuses('GET /\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHo st: a\r\n\r\n');
    refuses('GET / HTTP/1.1\r\nHost: a\r\nX: \u0001\r\n\r\n');
    refuses('HTTP/1.1 2000 OK\r\n\r\n', 400, false);
    refuses('HTTP/1.1 099 Low\r\n\r\n', 400, false);
    refuses('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 400, false);
  });

  test('identical Content-Length list accepted', () => {
    assert.equal(
      head('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 , 7\r\nContent-Length: 7\r\n\r\n').contentLength,
      7,
    );
  });

  test('findHeadEnd: incomplete → 0, bare LF → 400 at once, too large → the given status', () => {
    const partial = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n');
    assert.equal(findHeadEnd(partial, 0, partial.length, 1024, 431), 0);
    const lf = Buffer.from('GET / HTTP/1.1\nHost');
    assert.throws(
      () => findHeadEnd(lf, 0, lf.length, 1024, 431),
      (e: unknown) => (e as HttpParseError).status === 400,
    );
    const big = Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(2000)}`);
    assert.throws(
      () => findHeadEnd(big, 0, big.length, 1024, 431),
      (e: unknown) => (e as HttpParseError).status === 431,
    );
  });
});

describe('BodyFramer', () => {
  test('length: stops exactly at the end', () => {
    const f = new BodyFramer();
    f.reset(Framing.length, 5);
    const b = Buffer.from('abcdefgh');
    assert.equal(f.consume(b, 0, 3), 3);
    assert.equal(f.done, false);
    assert.equal(f.consume(b, 3, 8), 5);
    assert.equal(f.done, true);
  });

  test('chunked: finds the end across any split, with extensions and trailers', () => {
    const body = Buffer.from('5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT');
    for (let split = 1; split < body.length - 4; split++) {
      const f = new BodyFramer();
      f.reset(Framing.chunked, 0);
      const a = f.consume(body, 0, split);
      assert.equal(a, split);
      const end = f.consume(body, split, body.length);
      assert.equal(f.done, true, `split ${split}`);
      assert.equal(body.subarray(end).toString(), 'NEXT');
    }
  });

  test('chunked refusals', () => {
    for (const bad of [
      'g\r\n',
      '\r\n',
      '5\nhello',
      '5\r\nhelloXY',
      `${'1'.repeat(16)}\r\n`,
      '0\r\nX\nY',
      '5;a\u0001\r\n',
    ]) {
      const f = new BodyFramer();
      f.reset(Framing.chunked, 0);
      const b = Buffer.from(bad, 'latin1');
      assert.throws(() => f.consume(b, 0, b.length), HttpParseError, JSON.stringify(bad));
    }
  });

  test('close: everything until the end of stream', () => {
    const f = new BodyFramer();
    f.reset(Framing.close, 0);
    assert.equal(f.consume(Buffer.from('abc'), 0, 3), 3);
    assert.equal(f.done, false);
    assert.equal(f.endOfStream(), true);
    assert.equal(f.done, true);
  });
});

test('hostOf: lower case, port and trailing dot removed, IPv6 kept', () => {
  assert.equal(hostOf('Example.COM:8080'), 'example.com');
  assert.equal(hostOf('example.com.'), 'example.com');
  assert.equal(hostOf('[::1]:80'), '[::1]');
  assert.equal(hostOf('[::1]'), '[::1]');
  assert.equal(hostOf(null), '');
});
