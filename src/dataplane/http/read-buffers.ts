/**
 * Read buffers for sockets read with `onread` (the server side of HTTP and TCP connections):
 * each socket reads into one buffer of its own, reused from read to read, and hands it back
 * here when it closes, so a new connection does not allocate one (no per-connection
 * ArrayBuffer, no external memory driving mark-compact GCs on connection churn).
 */

/** Bytes read at once. */
export const READ_BUFFER_BYTES = 64 * 1024;
/** Free buffers kept (at most 4 MiB). */
const MAX_FREE = 64;
const free: Buffer[] = [];

/** A read buffer: a recycled one when there is one. */
export function takeReadBuffer(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
}

/**
 * Gives back a buffer no socket reads into any more (its socket closed) and nothing references
 * (no write pending on its bytes).
 */
export function giveReadBuffer(b: Buffer): void {
  if (free.length < MAX_FREE) free.push(b);
}

/**
 * One socket's reused read buffer (the `onread` side of the HTTP upstream connection and the
 * TCP session's server half; extended, so no object is added per connection): `readBuffer()`
 * is what the next read goes into, the same buffer as last time unless `retained` says the
 * last chunk's bytes are still referenced (a write that did not leave at once), in which case
 * a fresh one is taken; `releaseReadBuffer()` recycles it once the socket reads no more.
 */
export class ReusedReadBuffer {
  /** The buffer reads go into, or null before the first read and after release. */
  readBuf: Buffer | null = null;
  /** Set after each read: true when the bytes just read are still referenced. */
  retained = false;

  /** The buffer for the next read (recycled from the free list when one is needed). */
  readBuffer(): Buffer {
    let b = this.readBuf;
    if (b === null || this.retained) {
      b = this.readBuf = takeReadBuffer();
      this.retained = false;
    }
    return b;
  }

  /** The socket reads no more: the buffer goes back unless a write still references its bytes. */
  releaseReadBuffer(): void {
    const b = this.readBuf;
    if (b !== null && !this.retained) giveReadBuffer(b);
    this.readBuf = null;
  }
}
