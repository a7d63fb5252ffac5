import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkedDecoder } from './chunked.ts';

function decode(parts: string[]): { data: string; done: boolean; rest: string } {
  const d = new ChunkedDecoder();
  let data = '';
  let rest = '';
  for (const p of parts) {
    const buf = Buffer.from(p, 'latin1');
    const stop = d.push(buf, (s) => (data += s.toString('latin1')));
    if (d.done) rest += buf.subarray(stop).toString('latin1');
  }
  return { data, done: d.done, rest };
}

describe('ChunkedDecoder (RFC 9112 §7.1)', () => {
  const body = '5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT';
  it('decodes whole and split at every byte', () => {
    assert.deepEqual(decode([body]), { data: 'hello world', done: true, rest: 'NEXT' });
    for (let cut = 1; cut < body.length; cut++) {
      const r = decode([body.slice(0, cut), body.slice(cut)]);
      assert.equal(r.data, 'hello world', `cut ${cut}`);
      assert.equal(r.done, true);
    }
    assert.equal(decode(body.split('')).data, 'hello world');
  });
  it('is not done before the final CRLF', () => {
    assert.equal(decode(['5\r\nhello\r\n0\r\n']).done, false);
  });
  it('refuses bad framing', () => {
    for (const bad of ['x\r\n', '5\nhello', '5\r\nhelloXY', '1234567890abcdef0\r\n', '5\r\nhello\r\n0\r\n\rX']) {
      assert.throws(() => decode([bad]), Error, bad);
    }
  });
});
