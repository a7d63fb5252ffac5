import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { MIN_READ_SPACE, READ_BUFFER_BYTES, ReusedReadBuffer, takeReadBuffer } from './read-buffers.ts';

test('reads go into the same buffer while nothing is referenced, after the kept bytes while something is', () => {
  const r = new ReusedReadBuffer();
  const first = r.readBuffer();
  assert.equal(first.length, READ_BUFFER_BYTES);
  r.chunk(100);
  r.retained = false;
  assert.equal(r.readBuffer(), first, 'nothing referenced: the whole buffer again');
  const a = r.chunk(100);
  r.retained = true;
  const next = r.readBuffer();
  assert.equal(next.buffer, first.buffer, 'kept bytes: the rest of the same memory');
  assert.equal(next.byteOffset, first.byteOffset + 100);
  assert.equal(next.length, READ_BUFFER_BYTES - 100);
  next.fill(7, 0, 50);
  const b = r.chunk(50);
  assert.equal(b.byteOffset, first.byteOffset + 100, 'chunk(n) is the bytes of that read');
  assert.equal(b[0], 7);
  assert.equal(a.byteOffset, first.byteOffset, 'the kept chunk is untouched by the next read');
  // Fill until less than MIN_READ_SPACE is left: then a fresh buffer.
  r.retained = true;
  r.readBuffer();
  r.chunk(READ_BUFFER_BYTES - 150 - MIN_READ_SPACE);
  r.retained = true;
  const last = r.readBuffer();
  assert.equal(last.buffer, first.buffer, 'exactly MIN_READ_SPACE left is still used');
  assert.equal(last.length, MIN_READ_SPACE);
  r.chunk(1);
  r.retained = true;
  const fresh = r.readBuffer();
  assert.notEqual(fresh.buffer, first.buffer, 'less than MIN_READ_SPACE left: another buffer');
  assert.equal(fresh.length, READ_BUFFER_BYTES);
  assert.equal(r.chunk(3).byteOffset, fresh.byteOffset);
});

test('a socket read with onread into the rest of the buffer delivers every byte, kept chunks intact', async (t) => {
  // The server sends 3,000 numbered messages in small writes; the client keeps every chunk (as a
  // stalled client write would) and reads on into the same memory after them.
  const messages = Array.from({ length: 3000 }, (_, i) => `message ${i};`);
  const server = net.createServer((s) => {
    let i = 0;
    const next = (): void => {
      while (i < messages.length) {
        const more = s.write(messages[i++] as string);
        if (i % 100 === 0) {
          setTimeout(next, 1); // separate reads on the other side
          return;
        }
        if (!more) {
          s.once('drain', next);
          return;
        }
      }
      s.end();
    };
    next();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const r = new ReusedReadBuffer();
  const kept: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  await new Promise<void>((resolve, reject) => {
    const c = net.connect({
      port: (server.address() as net.AddressInfo).port,
      host: '127.0.0.1',
      onread: {
        buffer: () => r.readBuffer(),
        callback: (n: number) => {
          const chunk = r.chunk(n);
          kept.push(chunk);
          buffers.add(chunk.buffer);
          r.retained = true;
          return true;
        },
      },
    });
    c.on('end', () => resolve());
    c.on('error', reject);
  });
  const inside = kept.filter((k) => k.byteOffset > 0).length;
  assert.ok(inside >= 5, `reads after kept bytes in the same buffer (${inside} of ${kept.length})`);
  assert.equal(Buffer.concat(kept).toString(), messages.join(''));
  const sent = Buffer.byteLength(messages.join(''));
  assert.ok(
    buffers.size <= Math.ceil(sent / (READ_BUFFER_BYTES - MIN_READ_SPACE)) + 1,
    `${buffers.size} buffers for ${sent} bytes kept`,
  );
});

test('a buffer goes back to the free list only when none of its bytes may still be referenced', () => {
  const kept = new ReusedReadBuffer();
  const b = kept.readBuffer();
  kept.chunk(10);
  kept.retained = true;
  kept.readBuffer(); // the next read goes after the kept bytes
  kept.releaseReadBuffer();
  assert.notEqual(takeReadBuffer().buffer, b.buffer, 'bytes before the next read may still be queued: not recycled');
  const free = new ReusedReadBuffer();
  const c = free.readBuffer();
  free.chunk(10);
  free.readBuffer();
  free.releaseReadBuffer();
  assert.equal(takeReadBuffer().buffer, c.buffer, 'nothing referenced: recycled');
  const handed = new ReusedReadBuffer();
  const d = handed.readBuffer();
  handed.chunk(10);
  handed.retained = true;
  handed.handOver(); // a new owner, whose answers say nothing of these 10 bytes
  handed.readBuffer();
  handed.chunk(10);
  handed.retained = false;
  const next = handed.readBuffer();
  assert.equal(next.byteOffset, d.byteOffset + 20, 'after a hand-over, reads stay after the earlier bytes');
});
