/**
 * Decodes an HTTP/1.1 chunked body (RFC 9112 §7.1) into its data, for the HTTP/2 front:
 * HTTP/2 frames carry data without chunk framing. Strict: hex sizes of at most 15 digits,
 * CRLF line ends; extensions and trailers are skipped. Push bytes with `push`; it calls
 * `onData` with slices of the input (no copy) and returns true once the last chunk and the
 * trailer section are complete. Throws Error on a framing violation.
 */
export class ChunkedDecoder {
  #state = 0;
  #size = 0;
  #digits = 0;
  done = false;

  /** Index in `buf` just past the body when `done`, else buf.length. */
  push(buf: Buffer, onData: (slice: Buffer) => void): number {
    let i = 0;
    const n = buf.length;
    while (i < n && !this.done) {
      const c = buf[i] as number;
      switch (this.#state) {
        case 0: // size digits
        case 1: {
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v >= 0) {
            if (++this.#digits > 15) throw new Error('chunk size too long');
            this.#size = this.#size * 16 + v;
            this.#state = 1;
            i++;
          } else if (this.#state === 0) throw new Error('chunk size expected');
          else if (c === 13) {
            this.#state = 3;
            i++;
          } else if (c === 59 || c === 32 || c === 9) {
            this.#state = 2;
            i++;
          } else throw new Error('bad chunk size line');
          break;
        }
        case 2: // extension up to CR
          if (c === 13) this.#state = 3;
          else if (c < 32 && c !== 9) throw new Error('control character in chunk extension');
          i++;
          break;
        case 3: // LF after size line
          if (c !== 10) throw new Error('CRLF expected after chunk size');
          i++;
          this.#digits = 0;
          this.#state = this.#size === 0 ? 7 : 4;
          break;
        case 4: {
          // data
          const take = Math.min(this.#size, n - i);
          onData(buf.subarray(i, i + take));
          i += take;
          this.#size -= take;
          if (this.#size === 0) this.#state = 5;
          break;
        }
        case 5:
          if (c !== 13) throw new Error('CRLF expected after chunk data');
          this.#state = 6;
          i++;
          break;
        case 6:
          if (c !== 10) throw new Error('CRLF expected after chunk data');
          this.#state = 0;
          i++;
          break;
        case 7: // start of a trailer line; CR = end
          this.#state = c === 13 ? 9 : 8;
          i++;
          break;
        case 8: // trailer line
          if (c === 13) this.#state = 10;
          i++;
          break;
        case 10:
          if (c !== 10) throw new Error('CRLF expected after trailer');
          this.#state = 7;
          i++;
          break;
        case 9:
          if (c !== 10) throw new Error('CRLF expected at end of chunked body');
          this.done = true;
          i++;
          break;
      }
    }
    return i;
  }
}
