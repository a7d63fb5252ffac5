import http from 'node:http';
import net from 'node:net';

/**
 * The harness's clients: `get` (one GET, status and body), `waitFor` (a poll with a deadline,
 * instead of fixed sleeps) and `rawHttp` (an HTTP/1.1 request as raw bytes, so no client
 * cleans it up, with the answer parsed).
 */

/**
 * GET `url`; answers status and body text. `agent` as node:http takes it: omitted = the
 * global keep-alive agent, `false` = a fresh connection. Rejects after `timeoutMs` (a hang).
 */
export function get(
  url: string,
  agent?: http.Agent | false,
  timeoutMs = 10_000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * Polls `cond` (sync or async) until it holds, for at most `ms`; throws naming `what` when it
 * stays false. A sync condition is polled every 5 ms, an async one (an API call) every 20 ms.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 3000, what = 'a condition'): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const r = cond();
    const async = r instanceof Promise;
    if (await r) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, async ? 20 : 5));
  }
}

/** What `rawHttp` read: the bytes as latin1 text, whether the peer closed, and the parsed answer. */
export interface RawAnswer {
  /** Everything received, latin1. */
  text: string;
  /** The peer closed (or reset) the connection before `waitMs`. */
  closed: boolean;
  /** The status of the first answer, 0 when none was read. */
  status: number;
  /** The first answer's header fields, names in lower case (the last one of a repeated name). */
  headers: Record<string, string>;
  /** What follows the first head; de-chunked when the answer is `Transfer-Encoding: chunked`. */
  body: string;
}

/**
 * Sends `bytes` as they are on a new connection to 127.0.0.1:`port` and reads until the peer
 * closes. No half-close: a client that shuts its side down may lose a streamed answer, so a
 * request that wants the whole answer says `Connection: close`.
 *
 * When `waitMs` passes with the connection still open the answer so far is given with
 * `closed: false`, or, with `mustClose`, the promise rejects (as it does on a socket error);
 * without `mustClose` a socket error counts as the peer closing.
 */
export function rawHttp(
  port: number,
  bytes: string | Buffer | readonly (string | Buffer)[],
  options: { localAddress?: string; waitMs?: number; mustClose?: boolean } = {},
): Promise<RawAnswer> {
  const waitMs = options.waitMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean, err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      if (err && options.mustClose) reject(err);
      else resolve(parseRaw(Buffer.concat(chunks).toString('latin1'), closed));
    };
    const timer = setTimeout(() => {
      const first = String(Array.isArray(bytes) ? bytes[0] : bytes).split(/\r?\n/)[0];
      finish(false, new Error(`no close within ${waitMs} ms after ${first}`));
    }, waitMs);
    s.on('data', (d) => chunks.push(d));
    s.on('close', () => finish(true));
    s.on('error', (e) => finish(true, e));
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) s.write(b);
  });
}

/** Splits a raw answer into status, headers and (de-chunked) body. */
export function parseRaw(text: string, closed = true): RawAnswer {
  const end = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, end < 0 ? text.length : end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  let body = end < 0 ? '' : text.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  return { text, closed, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0), headers, body };
}

function unchunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl < 0) return out;
    const size = Number.parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 4 + size);
  }
}
