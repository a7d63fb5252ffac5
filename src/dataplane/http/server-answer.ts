import { recordTtfb } from '../../balancer/least-response-time.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { ServerRuntime } from '../../runtime/server-runtime.ts';
import { recordTtfbSample } from '../../runtime/ttfb-histogram.ts';
import type { FrontendRuntime } from '../types.ts';

/**
 * Books a server's response head, for HTTP/1.1 and HTTP/2 clients alike: the server's and
 * the frontend's counters by status class (O1), the time to first byte for
 * least-response-time (A2, `ttfbMs` in ms) and the stats history's p50/p95, and the outcome for passive health (H7: a 5xx
 * counts as a failure).
 */
export function serverAnswered(
  runtime: Runtime,
  counters: FrontendRuntime,
  rt: ServerRuntime,
  status: number,
  ttfbMs: number,
): void {
  rt.countResponse(status);
  counters.responses[(status / 100) | 0]!++;
  recordTtfb(rt, ttfbMs);
  recordTtfbSample(rt, ttfbMs);
  runtime.recordOutcome(rt, status < 500);
}
