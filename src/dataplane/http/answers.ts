import type http2 from 'node:http2';

/**
 * The proxy's own answers, for HTTP/1.1 and HTTP/2 clients alike (issue "Foundation" point 4,
 * issue 12): a status, a short plain-text body saying why, `Cache-Control: no-store`, and
 * `Retry-After: 5` on 503. HTTP/1.1 answers are built once per status and connection mode at
 * load time, so answering costs one `write` of a ready Buffer; HTTP/2 answers share the texts.
 */

/** Why the proxy answers by itself, with the text sent as the body. */
const TEXT: Record<number, [reason: string, body: string]> = {
  400: ['Bad Request', 'Bad request: the request is malformed and was not forwarded.\n'],
  408: ['Request Timeout', 'Request timeout: the request did not arrive in time.\n'],
  413: ['Content Too Large', 'Content too large: the request body exceeds the limit of this frontend.\n'],
  431: ['Request Header Fields Too Large', 'Request header fields too large.\n'],
  501: ['Not Implemented', 'Not implemented: this request is not supported by the load balancer.\n'],
  502: ['Bad Gateway', 'Bad gateway: no server of the backend could be reached or it answered badly.\n'],
  503: ['Service Unavailable', 'Service unavailable: no server of the backend is available.\n'],
  504: ['Gateway Timeout', 'Gateway timeout: the server did not answer in time.\n'],
};

function build(status: number, close: boolean, minor: number): Buffer {
  const [reason, body] = TEXT[status] as [string, string];
  const extra = status === 503 ? 'Retry-After: 5\r\n' : '';
  const conn = close ? 'Connection: close\r\n' : minor === 0 ? 'Connection: keep-alive\r\n' : '';
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${extra}${conn}\r\n${body}`,
    'latin1',
  );
}

const CACHE = new Map<number, Buffer>();
for (const status of Object.keys(TEXT).map(Number)) {
  for (const close of [false, true])
    for (const minor of [0, 1]) CACHE.set(status * 4 + (close ? 2 : 0) + minor, build(status, close, minor));
}

/**
 * A ready HTTP/1.1 answer for `status` (400, 408, 413, 431, 501, 502, 503 with Retry-After: 5,
 * 504). `close` adds `Connection: close`; `minor` 0 (HTTP/1.0 keep-alive client) adds
 * `Connection: keep-alive`. Throws Error for a status without a text.
 */
export function reply(status: number, close: boolean, minor = 1): Buffer {
  const b = CACHE.get(status * 4 + (close ? 2 : 0) + (minor === 0 ? 0 : 1));
  if (!b) throw new Error(`no canned reply for status ${status}`);
  return b;
}

/** True when `reply(status)` exists. */
export function hasReply(status: number): boolean {
  return TEXT[status] !== undefined;
}

/**
 * HTTP/1.1 `308 Permanent Redirect` to `location` (RFC 9110 §15.4.9), empty body; `close` adds
 * `Connection: close`, `minor` 0 adds `Connection: keep-alive`.
 */
export function redirect308(location: string, close: boolean, minor: number): Buffer {
  return Buffer.from(
    `HTTP/1.1 308 Permanent Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\n${close ? 'Connection: close\r\n' : minor === 0 ? 'Connection: keep-alive\r\n' : ''}\r\n`,
    'latin1',
  );
}

/**
 * Sends our answer for `status` on an HTTP/2 stream (same texts as `reply`); answers the
 * number of body bytes sent, 0 when the stream could not take it. Never throws.
 */
export function h2Answer(stream: http2.ServerHttp2Stream, status: number): number {
  const text = TEXT[status]?.[1] ?? '';
  if (stream.destroyed || stream.headersSent) return 0;
  try {
    stream.respond({
      ':status': status,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...(status === 503 ? { 'retry-after': '5' } : {}),
    });
    stream.end(text);
    return text.length;
  } catch {
    return 0;
  }
}
