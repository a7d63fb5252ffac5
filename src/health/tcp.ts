import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { reasonOfError } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from './types.ts';

/**
 * `tcp` check (H1): healthy when a TCP connection to the check port is accepted. Nothing is
 * sent; the connection is closed at once. Refused → `connection-refused`, abort → `timeout`.
 *
 * Written without the generic conversation helper: it is the check that runs most (the
 * default for tcp backends), and at 1,000 probes a second every listener and closure counts.
 */
export const tcpCheck: HealthCheck = {
  type: 'tcp',
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    return new Promise<ProbeResult>((resolve) => {
      const t0 = performance.now();
      if (signal.aborted) {
        resolve({ ok: false, reason: 'timeout', message: 'aborted before connecting', latencyMs: 0 });
        return;
      }
      const socket: Socket = connect(target.port, target.address);
      // issue 15 point 3: a server that requires a PROXY header gets it (LOCAL / UNKNOWN), then a FIN
      const header = target.proxyHeader;
      if (header !== undefined) socket.write(header);
      const done = (r: ProbeResult): void => {
        signal.removeEventListener('abort', onAbort);
        socket.removeListener('connect', onConnect);
        // A connected probe ends with RST, as HAProxy's checks do: no FIN exchange and no
        // TIME_WAIT left behind per probe (1,000 probes a second would pile them up).
        if (r.ok && header !== undefined) {
          socket.on('error', () => {});
          socket.setTimeout(1000, () => socket.destroy());
          socket.resume();
          socket.on('end', () => socket.destroy());
          socket.end();
        } else if (r.ok) socket.resetAndDestroy();
        else socket.destroy();
        resolve(r);
      };
      const onAbort = (): void =>
        done({
          ok: false,
          reason: 'timeout',
          message: `no connection within ${target.timeoutMs} ms`,
          latencyMs: target.timeoutMs,
        });
      const onConnect = (): void =>
        done({ ok: true, reason: 'ok', message: 'connected', latencyMs: Math.round(performance.now() - t0) });
      signal.addEventListener('abort', onAbort);
      socket.once('connect', onConnect);
      socket.on('error', (err) => {
        const r = reasonOfError(err);
        done({ ok: false, reason: r.reason, message: r.message, latencyMs: Math.round(performance.now() - t0) });
      });
    });
  },
};
