import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type FrontProxy, startFrontProxy } from './helpers/front-protocols.ts';
import { waitFor } from './helpers/http-client.ts';
import { rawExchange, startRawBackend } from './helpers/http-fixtures.ts';
import { FRAME, getRequest, H2_ERROR, RawH2 } from './helpers/raw-h2.ts';

/**
 * Issue 12 §3: the classes of input that were mishandled, each as a catalogue of spellings
 * sent as raw bytes (HTTP/2: raw frames from ./helpers/raw-h2.ts where Node's client would
 * refuse or normalise, Node's client elsewhere), with a recording backend that proves what was
 * and was not forwarded.
 */

/** A raw HTTP/1.1 backend that records every byte it receives and answers each request head with 200. */
async function recordingBackend(answer?: (head: string, s: net.Socket) => boolean) {
  const seen: string[] = [];
  let all = '';
  const b = await startRawBackend((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      all += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end + 4);
        seen.push(head);
        // bodies: read Content-Length or a chunked body before answering
        let rest = buf.slice(end + 4);
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (cl) {
          if (rest.length < Number(cl[1])) return;
          rest = rest.slice(Number(cl[1]));
        } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const last = rest.indexOf('0\r\n\r\n');
          if (last < 0) return;
          rest = rest.slice(last + 5);
        }
        buf = rest;
        if (answer?.(head, s)) continue;
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  return { ...b, seen, all: () => all };
}

describe('issue 12 §3: classes of input, proved with raw bytes and a recording backend', () => {
  let rec: Awaited<ReturnType<typeof recordingBackend>>;
  let p: FrontProxy;
  before(async () => {
    rec = await recordingBackend((head, s) => {
      if (head.includes('GET /ws-mismatch')) {
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
        return true;
      }
      if (head.includes('GET /ws ')) {
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        s.on('data', (d) => s.write(d)); // echo in the tunnel
        return true;
      }
      return false;
    });
    p = await startFrontProxy('http/1.1', [rec.port], {
      frontend: { maxRequestBodyBytes: 100, trustedProxies: ['10.0.0.0/8'] },
    });
  });
  after(async () => {
    await p.close();
    await rec.close();
  });

  test('look-alike names of framing and forwarding fields are never forwarded (8 spellings)', async () => {
    const n0 = rec.seen.length;
    const names = [
      'X_Forwarded_For',
      'X.Forwarded-For',
      'x_forwarded_proto',
      'Transfer_Encoding',
      'Content_Length',
      'X_Real_IP',
      'True_Client.IP',
      'X_Client_IP',
    ];
    const head = `GET /look HTTP/1.1\r\nHost: a\r\n${names.map((n) => `${n}: evil`).join('\r\n')}\r\n\r\n`;
    const r = await rawExchange(p.port, head, 500);
    assert.match(r.text, /^HTTP\/1\.1 200/);
    await waitFor(() => rec.seen.length > n0);
    const sent = rec.seen[rec.seen.length - 1] as string;
    assert.doesNotMatch(sent, /evil/);
    assert.match(sent, /\r\nX-Forwarded-For: 127\.0\.0\.1\r\n/);
  });

  test('client identity family is replaced for an untrusted client (not in trustedProxies)', async () => {
    const r = await rawExchange(
      p.port,
      'GET /id HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Real-IP: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\nTrue-Client-IP: 1.2.3.4\r\nX-Client-IP: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n\r\n',
      500,
    );
    assert.match(r.text, /^HTTP\/1\.1 200/);
    const sent = rec.seen[rec.seen.length - 1] as string;
    assert.doesNotMatch(sent, /1\.2\.3\.4/);
    assert.match(sent, /X-Forwarded-Proto: http\r\n/);
  });

  test('routing target: fragments refused (400), dot segments and %-encoded unreserved normalised before forwarding', async () => {
    for (const target of ['/a#frag', '/a?q#f', '#x']) {
      const n0 = rec.seen.length;
      const r = await rawExchange(p.port, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, 300);
      assert.match(r.text, /^HTTP\/1\.1 400/, target);
      assert.equal(rec.seen.length, n0, `${target} not forwarded`);
    }
    const cases: [string, string][] = [
      ['/%69nternal', '/internal'],
      ['/a/./b/../c', '/a/c'],
      ['//a///b', '/a/b'],
      ['/%7euser', '/~user'],
      ['/a%2fb', '/a%2Fb'],
      ['/a/..', '/'],
      ['/../../etc/passwd', '/etc/passwd'],
      ['http://a/%2e%2e/x?y=1', '/x?y=1'],
    ];
    for (const [target, forwarded] of cases) {
      const r = await rawExchange(p.port, `GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, 300);
      assert.match(r.text, /^HTTP\/1\.1 200/, target);
      assert.ok((rec.seen[rec.seen.length - 1] as string).startsWith(`GET ${forwarded} HTTP/1.1\r\n`), target);
    }
    assert.ok(rec.seen.length > 0);
  });

  test('upgrade smuggling: h2c never forwarded, an unasked 101 protocol closes, websocket tunnels', async () => {
    for (const up of ['h2c', 'H2C', 'foo']) {
      const r = await rawExchange(
        p.port,
        `GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: ${up}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
        300,
      );
      assert.match(r.text, /^HTTP\/1\.1 200/, up);
      const sent = rec.seen[rec.seen.length - 1] as string;
      assert.doesNotMatch(sent, /upgrade|http2-settings/i, `${up}: no Upgrade forwarded`);
    }
    const bad = await rawExchange(
      p.port,
      'GET /ws-mismatch HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      500,
    );
    assert.match(bad.text, /^HTTP\/1\.1 502/);
    assert.equal(bad.closed, true);
    const ok = await new Promise<string>((resolve) => {
      const s = net.connect(p.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (got.includes('\r\n\r\n') && !got.includes('ping')) s.write('ping');
        if (got.includes('ping')) {
          s.destroy();
          resolve(got);
        }
      });
      s.write('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    });
    assert.match(ok, /^HTTP\/1\.1 101/);
    assert.match(ok, /ping$/);
  });

  test('chunk extensions are stripped, a long chunk-size line refused, maxRequestBodyBytes → 413 before forwarding', async () => {
    const r = await rawExchange(
      p.port,
      'POST /ext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value;x="y"\r\nabc\r\n2 ; a=b\r\nde\r\n0;last\r\n\r\n',
      500,
    );
    assert.match(r.text, /^HTTP\/1\.1 200/);
    assert.ok(rec.all().includes('3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'), 'extensions stripped');
    assert.ok(!rec.all().includes('name=value'));
    const n0 = rec.seen.length;
    const long = await rawExchange(
      p.port,
      `POST /long HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;${'x'.repeat(4096)}\r\na\r\n0\r\n\r\n`,
      500,
    );
    assert.match(long.text, /^HTTP\/1\.1 400/);
    const big = await rawExchange(
      p.port,
      `POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n${'z'.repeat(101)}`,
      500,
    );
    assert.match(big.text, /^HTTP\/1\.1 413/);
    assert.equal(big.closed, true);
    const bigChunked = await rawExchange(
      p.port,
      `POST /bigc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n${'z'.repeat(100)}\r\n1\r\nz\r\n0\r\n\r\n`,
      500,
    );
    assert.match(bigChunked.text, /^HTTP\/1\.1 413/);
    assert.ok(!rec.seen.slice(n0).some((h) => h.startsWith('POST /big ')), '/big never forwarded');
    assert.ok(!rec.all().includes('z'.repeat(101)));
  });

  test('pipelining flood: a client that writes without reading is bounded in memory and time, others are served', async () => {
    const one = 'GET /flood HTTP/1.1\r\nHost: a\r\n\r\n';
    const burst = Buffer.from(one.repeat(2000));
    // warm up (JIT, pools) so the measure is the flood's, not the first requests'
    await rawExchange(p.port, one.repeat(200), 500);
    const m0 = process.memoryUsage();
    const s = net.connect(p.port, '127.0.0.1');
    s.pause(); // never read
    let written = 0;
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      const write = (): void => {
        while (Date.now() - t0 < 1500) {
          written += burst.length;
          if (!s.write(burst)) {
            s.once('drain', write);
            return;
          }
        }
        resolve();
      };
      s.on('error', () => resolve());
      write();
      setTimeout(resolve, 2000);
    });
    const m1 = process.memoryUsage();
    const grown = m1.rss - m0.rss;
    const buffers = m1.arrayBuffers - m0.arrayBuffers;
    // another client is served meanwhile
    const other = await rawExchange(p.port, 'GET /other HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 1000);
    assert.match(other.text, /^HTTP\/1\.1 200/);
    const fe = p.plane.counters.get('fe');
    assert.ok(grown < 128 * 1024 * 1024, `RSS grew ${Math.round(grown / 1048576)} MiB for ${written} bytes offered`);
    assert.ok(buffers < 8 * 1024 * 1024, `buffers grew ${Math.round(buffers / 1048576)} MiB`);
    // the proxy reads only what it can answer: a few pipeline buffers beyond the requests it served
    assert.ok((fe?.bytesIn ?? 0) < (fe?.requests ?? 0) * one.length + 1024 * 1024, `read ${fe?.bytesIn} bytes`);
    s.destroy();
  });
});

describe('issue 12 §3: HTTP/2 strictness with frames Node does not normalise', () => {
  let rec: Awaited<ReturnType<typeof recordingBackend>>;
  let p: FrontProxy;
  before(async () => {
    rec = await recordingBackend();
    p = await startFrontProxy('h2', [rec.port]);
  });
  after(async () => {
    await p.close();
    await rec.close();
  });

  test('content-length larger than the DATA sent: RST_STREAM PROTOCOL_ERROR, sibling streams live on', async () => {
    const session = p.session();
    const sibling = session.request({ ':method': 'POST', ':path': '/sibling' }, { endStream: false });
    sibling.write('a');
    const bad = session.request({ ':method': 'POST', ':path': '/bad', 'content-length': '30' }, { endStream: false });
    const code = await new Promise<number>((resolve) => {
      bad.on('close', () => resolve(bad.rstCode));
      bad.on('error', () => {});
      bad.on('response', () => {});
      bad.end('too long body');
    });
    assert.equal(code, http2.constants.NGHTTP2_PROTOCOL_ERROR);
    const status = await new Promise<number>((resolve, reject) => {
      sibling.on('response', (h) => resolve(Number(h[':status'])));
      sibling.on('error', reject);
      sibling.end('b');
    });
    assert.equal(status, 200);
    assert.equal(session.closed, false, 'the connection stays');
    const next = await p.request({ path: '/after' });
    assert.equal(next.status, 200);
    assert.ok(!rec.seen.some((h) => h.startsWith('POST /bad ')) || !rec.all().includes('too long body0'));
  });

  test('DATA beyond content-length: Node answers with a connection error (GOAWAY) before our code sees it', {
    todo: 'node:http2 makes this a session error (GOAWAY); why, with references: src/dataplane/http2/README.md',
  }, async () => {
    const session = p.session();
    const bad = session.request({ ':method': 'POST', ':path': '/over', 'content-length': '3' }, { endStream: false });
    bad.on('error', () => {});
    const code = await new Promise<number>((resolve) => {
      bad.on('close', () => resolve(bad.rstCode));
      bad.end('too long body');
    });
    assert.equal(code, http2.constants.NGHTTP2_PROTOCOL_ERROR);
    assert.equal(session.closed, false);
  });

  test('malformed fields in raw HEADERS frames: refused or dropped, never forwarded (25 cases)', async () => {
    // Sent byte for byte by ./helpers/raw-h2.ts (literal HPACK, no Huffman), which Node's client
    // refuses to send. What answers, per case (src/dataplane/http2/README.md):
    // - `rst`: nghttp2 refuses the request with RST_STREAM PROTOCOL_ERROR on that stream before
    //   our code sees it (no access-log line, nothing forwarded); the connection lives on;
    // - `dropped`: Node's HTTP/2 layer drops the one field and hands over the rest of the
    //   request (a regular field with a bad name or value: Node tells nghttp2 to ignore it
    //   rather than refuse); the request is served without that field.
    // Never a GOAWAY. Every case carries the marker `evil`, which must never reach the server.
    const ok = (path: string): [string, string][] => getRequest(path);
    const cases: { name: string; fields: [string, string][]; expect: 'rst' | 'dropped' }[] = [
      { name: 'CR in a value', fields: [...ok('/m1'), ['x-a', 'v\rEvil: 1']], expect: 'dropped' },
      { name: 'LF in a value', fields: [...ok('/m2'), ['x-a', 'v\nEvil: 1']], expect: 'dropped' },
      { name: 'CRLF in a value', fields: [...ok('/m3'), ['x-a', 'v\r\nEvil: 1']], expect: 'dropped' },
      { name: 'NUL in a value', fields: [...ok('/m4'), ['x-a', 'v\0evil']], expect: 'dropped' },
      { name: 'leading space in a value', fields: [...ok('/m5'), ['x-a', ' evil']], expect: 'dropped' },
      { name: 'trailing tab in a value', fields: [...ok('/m5t'), ['x-a', 'evil\t']], expect: 'dropped' },
      { name: 'CRLF in host', fields: [...ok('/m6'), ['host', 'a\r\nEvil: 1']], expect: 'dropped' },
      { name: 'empty name', fields: [...ok('/m7'), ['', 'evil']], expect: 'dropped' },
      { name: '`:` inside a name', fields: [...ok('/m8'), ['x:evil', 'v']], expect: 'dropped' },
      { name: 'space in a name', fields: [...ok('/m9'), ['x evil', 'v']], expect: 'dropped' },
      { name: 'upper-case name', fields: [...ok('/r1'), ['X-Evil', 'v']], expect: 'rst' },
      { name: 'connection', fields: [...ok('/r2'), ['connection', 'evil']], expect: 'rst' },
      { name: 'transfer-encoding', fields: [...ok('/r3'), ['transfer-encoding', 'chunked, evil']], expect: 'rst' },
      { name: 'keep-alive', fields: [...ok('/r4'), ['keep-alive', 'evil']], expect: 'rst' },
      { name: 'upgrade', fields: [...ok('/r5'), ['upgrade', 'evil']], expect: 'rst' },
      { name: 'proxy-connection', fields: [...ok('/r6'), ['proxy-connection', 'evil']], expect: 'rst' },
      { name: 'te other than trailers', fields: [...ok('/r7'), ['te', 'evil']], expect: 'rst' },
      { name: 'duplicate :path', fields: [...ok('/r8'), [':path', '/evil']], expect: 'rst' },
      { name: 'missing :method', fields: ok('/r9-evil').slice(1), expect: 'rst' },
      {
        name: 'pseudo-header after a regular field',
        fields: [
          [':method', 'GET'],
          [':scheme', 'https'],
          ['x-evil', '1'],
          [':authority', 'a'],
          [':path', '/r10'],
        ],
        expect: 'rst',
      },
      { name: 'unknown pseudo-header', fields: [...ok('/r11'), [':evil', 'v']], expect: 'rst' },
      { name: 'CRLF in :path', fields: [...ok('/r12').slice(0, 3), [':path', '/r12\r\nEvil: 1']], expect: 'rst' },
      {
        name: 'CRLF in :authority',
        fields: [
          [':method', 'GET'],
          [':scheme', 'https'],
          [':authority', 'a\r\nEvil: 1'],
          [':path', '/r13'],
        ],
        expect: 'rst',
      },
      { name: 'space in :method', fields: [[':method', 'GET /evil'], ...ok('/r14').slice(1)], expect: 'rst' },
      { name: 'upper-case :method name', fields: [[':METHOD', 'GET'], ...ok('/r15-evil').slice(1)], expect: 'rst' },
    ];
    const sibling = await RawH2.connect(p.port);
    let siblingStream = 1;
    const seen: Record<string, string> = {};
    try {
      for (const [i, c] of cases.entries()) {
        const path = (c.fields.find(([n]) => n === ':path')?.[1] ?? '').split('\r')[0] as string;
        const n0 = rec.seen.length;
        const log0 = p.records.length;
        const conn = await RawH2.connect(p.port);
        try {
          conn.headers(1, c.fields);
          const o = await conn.outcome(1);
          seen[c.name] = o.kind === 'rst' || o.kind === 'goaway' ? `${o.kind} ${o.code}` : o.kind;
          if (c.expect === 'rst') {
            assert.deepEqual(o, { kind: 'rst', code: H2_ERROR.PROTOCOL_ERROR }, c.name);
            assert.ok(!p.records.slice(log0).some((r) => r.target === path), `${c.name}: our code never saw it`);
          } else {
            assert.deepEqual(o, { kind: 'response', status: 200 }, c.name);
            await waitFor(() => rec.seen.length > n0);
            assert.ok(
              rec.seen.slice(n0).some((h) => h.startsWith(`GET ${path} HTTP/1.1\r\n`)),
              c.name,
            );
          }
          // the same connection serves its next stream (a stream error, not a connection error)
          conn.headers(3, ok(`/same-${i}`));
          assert.deepEqual(await conn.outcome(3), { kind: 'response', status: 200 }, `${c.name}: same connection`);
          // and a sibling connection is untouched
          siblingStream += 2;
          sibling.headers(siblingStream, ok(`/sibling-${i}`));
          assert.deepEqual(await sibling.outcome(siblingStream), { kind: 'response', status: 200 }, c.name);
        } finally {
          conn.close();
        }
        assert.doesNotMatch(rec.all(), /evil/i, `${c.name}: nothing of it reached the server`);
      }
    } finally {
      sibling.close();
    }
    assert.equal(sibling.frames.filter((f) => f.type === FRAME.GOAWAY).length, 0);
    // what answered each case, for the record (README): every refusal is RST_STREAM PROTOCOL_ERROR
    assert.equal(Object.values(seen).filter((v) => v === `rst ${H2_ERROR.PROTOCOL_ERROR}`).length, 15);
    assert.equal(Object.values(seen).filter((v) => v === 'response').length, 10);
  });

  test('raw DATA shorter than content-length: RST_STREAM PROTOCOL_ERROR, logged bad-request, the connection lives on', async () => {
    const conn = await RawH2.connect(p.port);
    try {
      const log0 = p.records.length;
      conn.headers(
        1,
        [
          [':method', 'POST'],
          [':scheme', 'https'],
          [':authority', 'a'],
          [':path', '/short-raw'],
          ['content-length', '10'],
        ],
        { endStream: false },
      );
      conn.data(1, 'abc', true);
      assert.deepEqual(await conn.outcome(1), { kind: 'rst', code: H2_ERROR.PROTOCOL_ERROR });
      await waitFor(() => p.records.slice(log0).some((r) => r.target === '/short-raw'));
      assert.equal(p.records.slice(log0).find((r) => r.target === '/short-raw')?.termination, 'bad-request');
      conn.headers(3, getRequest('/after-short-raw'));
      assert.deepEqual(await conn.outcome(3), { kind: 'response', status: 200 });
    } finally {
      conn.close();
    }
  });

  test('the server connections of one HTTP/2 client connection are bounded', async () => {
    const session = p.session();
    let maxOpen = 0;
    const before = rec.connections;
    const reqs = Array.from(
      { length: 80 },
      (_, i) =>
        new Promise<number>((resolve) => {
          const r = session.request({ ':method': 'GET', ':path': `/many${i}` });
          r.on('response', (h) => resolve(Number(h[':status'])));
          r.on('error', () => resolve(0));
          r.resume();
          maxOpen = Math.max(maxOpen, rec.connections - before);
        }),
    );
    const statuses = await Promise.all(reqs);
    assert.ok(statuses.every((s) => s === 200));
    assert.ok(rec.connections - before <= 32, `server connections opened: ${rec.connections - before}`);
  });
});
