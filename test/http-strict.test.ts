import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  rawExchange,
  startBackend,
  startProxy,
  startRawBackend,
  type TestBackend,
  type TestProxy,
} from './helpers/http-fixtures.ts';

/** RFC 9112 strictness: every case is refused with 400 and the connection closed; the server never sees it. */
describe('http strict parsing (RFC 9112)', () => {
  let b: TestBackend;
  let p: TestProxy;
  before(async () => {
    b = await startBackend();
    p = await startProxy([b.port]);
  });
  after(async () => {
    await p.close();
    await b.close();
  });

  const H = 'Host: example.com\r\n';
  const cases: [string, string, number?][] = [
    [
      'both Content-Length and Transfer-Encoding',
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    ['differing Content-Length headers', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`],
    ['differing Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!`],
    ['bad Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 5,\r\n\r\nhello`],
    ['malformed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`],
    ['hex Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`],
    ['empty Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: \r\n\r\n`],
    ['Transfer-Encoding ,chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n`],
    ['Transfer-Encoding gzip, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`],
    [
      'Transfer-Encoding chunked, chunked',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'two Transfer-Encoding headers',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    ['Transfer-Encoding identity', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`],
    ['Transfer-Encoding chunked with junk', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
    ['Transfer-Encoding on HTTP/1.0', `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['duplicate Host', `GET / HTTP/1.1\r\n${H}Host: other.com\r\n\r\n`],
    ['missing Host on HTTP/1.1', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n'],
    ['invalid Host value', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    ['obs-fold', `GET / HTTP/1.1\r\n${H}X-A: 1\r\n  continued\r\n\r\n`],
    ['HTTP/2.0 request line', `GET / HTTP/2.0\r\n${H}\r\n`],
    ['HTTP/1.2 request line', `GET / HTTP/1.2\r\n${H}\r\n`],
    ['lower-case version', `GET / http/1.1\r\n${H}\r\n`],
    ['HTTP/0.9', 'GET /\r\n\r\n'],
    ['space before colon', `GET / HTTP/1.1\r\n${H}X-A : 1\r\n\r\n`],
    ['invalid header name', `GET / HTTP/1.1\r\n${H}X(A): 1\r\n\r\n`],
    ['empty header name', `GET / HTTP/1.1\r\n${H}: 1\r\n\r\n`],
    ['header without colon', `GET / HTTP/1.1\r\n${H}X-A\r\n\r\n`],
    ['NUL in header value', `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`],
    ['bare LF line ending', 'GET / HTTP/1.1\nHost: example.com\n\n'],
    ['bare LF in headers', `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`],
    ['bare CR in header value', `GET / HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`],
    ['bare CR in request line', `GET /\r HTTP/1.1\r\n${H}\r\n`],
    ['two spaces in request line', `GET  / HTTP/1.1\r\n${H}\r\n`],
    ['invalid method', `G@T / HTTP/1.1\r\n${H}\r\n`],
    ['non-ASCII target', `GET /\u00e9 HTTP/1.1\r\n${H}\r\n`],
    ['relative target', `GET foo HTTP/1.1\r\n${H}\r\n`],
    ['invalid chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
    ['negative chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n`],
    [
      'chunk size with leading space',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n`,
    ],
    ['chunk size line with bare LF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`],
    ['chunk data without CRLF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n`],
    [
      'chunk size overflow',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${'f'.repeat(20)}\r\nhello\r\n0\r\n\r\n`,
    ],
    ['CONNECT', `CONNECT example.com:443 HTTP/1.1\r\n${H}\r\n`, 501],
    ['head too large', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(40_000)}\r\n\r\n`, 431],
  ];

  for (const [name, raw, status = 400] of cases) {
    test(`refuses ${name} with ${status} and closes`, async () => {
      const before = b.requests;
      const r = await rawExchange(p.port, raw);
      assert.match(r.text, new RegExp(`^HTTP/1\\.1 ${status} `), r.text);
      assert.match(r.text, /\r\nConnection: close\r\n/);
      assert.equal(r.closed, true, 'connection closed');
      assert.equal(b.requests, before, 'the backend saw nothing');
    });
  }

  test('the backend received no request at all across every refusal', () => {
    assert.equal(b.requests, 0);
    assert.equal(b.connections, 0);
  });

  test('a valid request on the same proxy still works (control)', async () => {
    const r = await rawExchange(p.port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.equal(b.requests, 1);
  });

  test('identical Content-Length list is accepted and normalised to one value', async () => {
    const r = await rawExchange(
      p.port,
      `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\nConnection: close\r\n\r\nhello`,
    );
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    const seen = b.seen.at(-1);
    assert.equal(seen?.headers['content-length'], '5');
  });
});

describe('malformed responses from a server → 502', () => {
  const bad: [string, string][] = [
    ['garbage status line', 'HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['both CL and TE', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['bad Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
    ['unsolicited 101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
  ];
  for (const [name, response] of bad) {
    test(name, async () => {
      const srv = await startRawBackend((s) => s.once('data', () => s.write(response)));
      const p = await startProxy([srv.port]);
      try {
        const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.match(r.text, /^HTTP\/1\.1 502 /, r.text);
        assert.equal(r.closed, true);
      } finally {
        await p.close();
        await srv.close();
      }
    });
  }
});
