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
 * Space a read into the rest of a buffer must have; with less, a fresh buffer is taken. A
 * buffer whose bytes are still referenced is thus at least 3/4 used by referenced bytes (or by
 * one large read), so small chunks waiting in a stalled client's write queue pin about their
 * own size, not 64 KiB each (issue 12 §3: a client that writes without reading stays bounded).
 */
export const MIN_READ_SPACE = 16 * 1024;

/**
 * One socket's reused read buffer (the `onread` side of the HTTP upstream connection and the
 * TCP session's server half; extended, so no object is added per connection). `readBuffer()`
 * is where the next read goes: the whole buffer again when nothing references the last bytes
 * read, else the rest of the same buffer after them (`retained`: a write that did not leave at
 * once, a split head kept), or a fresh buffer once less than `MIN_READ_SPACE` is left.
 * `chunk(n)` is the `n` bytes that read delivered; `releaseReadBuffer()` recycles the buffer
 * once the socket reads no more.
 */
export class ReusedReadBuffer {
  /** The buffer reads go into, or null before the first read and after release. */
  readBuf: Buffer | null = null;
  /** Set after each read: true when the bytes just read (or earlier ones) are still referenced. */
  retained = false;
  /** Where in `readBuf` the current read goes (0 unless earlier bytes are referenced). */
  readAt = 0;
  /** Bytes of the last read (at `readAt`). */
  lastRead = 0;
  /**
   * Bytes before `readAt` belong to an earlier reader who no longer reports on them
   * (`handOver`): reads only go after them, until a fresh buffer is taken.
   */
  #heldByEarlier = false;

  /**
   * The memory for the next read (recycled from the free list when a buffer is needed). Node
   * asks for it right after each read's callback, so `retained` is the owner's answer for the
   * read just made.
   */
  readBuffer(): Buffer {
    let b = this.readBuf;
    if (b !== null && !this.retained && !this.#heldByEarlier) {
      this.readAt = 0;
      return b;
    }
    if (b !== null) {
      const at = this.readAt + this.lastRead;
      if (READ_BUFFER_BYTES - at >= MIN_READ_SPACE) {
        this.readAt = at;
        this.retained = false;
        return b.subarray(at);
      }
    }
    b = this.readBuf = takeReadBuffer();
    this.readAt = 0;
    this.retained = false;
    this.#heldByEarlier = false;
    return b;
  }

  /** The `n` bytes the read just delivered (a view; no copy). */
  chunk(n: number): Buffer {
    this.lastRead = n;
    const at = this.readAt;
    return (this.readBuf as Buffer).subarray(at, at + n);
  }

  /**
   * The reader of the bytes read so far changes (a keep-alive connection goes back to its pool
   * while its last client write may still be queued), and the next reader cannot say when the
   * last one lets go of them. When any are still referenced (the next read already goes after
   * them, or the last read said so), later reads only go after them: a new owner answering
   * "not retained" must not bring reads back to offset 0 over the earlier owner's bytes. Call it
   * when the owner changes, and again once the last owner has answered for a read during which
   * it changed.
   */
  handOver(): void {
    if (this.retained || this.readAt > 0) this.#heldByEarlier = true;
  }

  /** The socket reads no more: the buffer goes back unless a write still references its bytes. */
  releaseReadBuffer(): void {
    const b = this.readBuf;
    // bytes before `readAt` were referenced when the read after them was placed: not recycled
    if (b !== null && !this.retained && this.readAt === 0 && !this.#heldByEarlier) giveReadBuffer(b);
    this.readBuf = null;
  }
}
