/**
 * The proxy's own answers (issue "Foundation" point 4): a status line, a short plain-text
 * body saying why, and `Connection: close` or keep-alive. Built once per status and
 * connection mode at load time, so answering costs one `write` of a ready Buffer.
 */

/** Why the proxy answers by itself, with the text sent as the body. */
const TEXT: Record<number, [reason: string, body: string]> = {
  400: ['Bad Request', 'Bad request: the request is malformed and was not forwarded.\n'],
  408: ['Request Timeout', 'Request timeout: the request head did not arrive in time.\n'],
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
 * A ready answer for `status` (one of 400, 408, 431, 501, 502, 503 with Retry-After: 5, 504).
 * `close` adds `Connection: close`; `minor` 0 (HTTP/1.0 keep-alive client) adds `Connection: keep-alive`.
 * Throws Error for a status without a text.
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
