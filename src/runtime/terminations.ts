/**
 * Why a request or connection ended other than normally (issue 12 point 2), as HAProxy's
 * termination state or Envoy's response flags: one stable code per cause, the same for
 * HTTP/1.1, HTTP/2, TCP and UDP, written in the access log and counted per frontend and
 * per server (`/stats`, `/metrics`).
 *
 * - `client-aborted`: the client closed or reset before the answer was complete;
 * - `client-timeout`: the client sent nothing in time (head, idle tunnel or tcp connection);
 * - `body-timeout`: the request body stalled (`timeouts.requestBodySeconds`) or was slower
 *   than `minRequestBodyBytesPerSecond` → 408;
 * - `body-too-large`: the request body exceeds `maxRequestBodyBytes` → 413;
 * - `bad-request`: the request broke the protocol → 400 / 431 / 501 or a stream error;
 * - `connect-refused`, `connect-timeout`: no connection to the server;
 * - `server-reset`: the server closed or reset before the end of its answer;
 * - `response-timeout`: the server did not answer in time → 504;
 * - `bad-response`: the server's answer broke the protocol (or a 101 that was not asked for) → 502;
 * - `no-server`: no server of the backend was available → 503;
 * - `queue-full`: every available server was at its `maxConnections` and the backend's queue
 *   was full (or off) → 503 (tcp: close) (issue 15 point 4);
 * - `queue-timeout`: waited in the backend's queue past its `timeoutSeconds` → 503 (tcp: close);
 * - `retried`: the request succeeded after `retries` attempts on other servers.
 */
export const TERMINATIONS = [
  'client-aborted',
  'client-timeout',
  'body-timeout',
  'body-too-large',
  'bad-request',
  'connect-refused',
  'connect-timeout',
  'server-reset',
  'response-timeout',
  'bad-response',
  'no-server',
  'queue-full',
  'queue-timeout',
  'retried',
] as const;

/** A termination reason (see TERMINATIONS). */
export type Termination = (typeof TERMINATIONS)[number];

/** Counts per termination reason, every reason present (0 when none). */
export type TerminationCounts = Record<Termination, number>;

/** A zeroed TerminationCounts. */
export function newTerminationCounts(): TerminationCounts {
  const o = {} as TerminationCounts;
  for (const t of TERMINATIONS) o[t] = 0;
  return o;
}
