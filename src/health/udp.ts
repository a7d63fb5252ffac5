import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { reasonOfError } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget, ReasonCode } from './types.ts';

/**
 * `udp` check (H1 beyond): sends `healthCheck.udp.send` (UTF-8) from a connected UDP socket
 * and expects one reply within the timeout, containing `udp.expect` when set. ICMP port
 * unreachable (ECONNREFUSED on the connected socket) → `connection-refused`; no reply →
 * `timeout`; a reply without the expected bytes → `body-mismatch`.
 */
export const udpCheck: HealthCheck = {
  type: 'udp',
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    const t0 = performance.now();
    return new Promise<ProbeResult>((resolve) => {
      let done = false;
      const socket = createSocket(isIPv6(target.address) ? 'udp6' : 'udp4');
      const finish = (ok: boolean, reason: ReasonCode, message: string): void => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        try {
          socket.close();
        } catch {
          // already closed
        }
        resolve({ ok, reason, message, latencyMs: Math.round(performance.now() - t0) });
      };
      const onAbort = (): void => finish(false, 'timeout', `no reply within ${target.timeoutMs} ms`);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort);
      const udp = target.udp;
      if (!udp) return finish(false, 'protocol-error', 'udp check without udp settings');
      socket.on('error', (err) => {
        const r = reasonOfError(err);
        finish(false, r.reason, r.message);
      });
      socket.on('message', (msg: Buffer) => {
        if (!udp.expect || msg.includes(udp.expect)) finish(true, 'ok', `reply of ${msg.length} bytes`);
        else finish(false, 'body-mismatch', `reply of ${msg.length} bytes lacks the expected bytes`);
      });
      socket.connect(target.port, target.address, () => {
        if (done) return;
        socket.send(udp.send, (err) => {
          if (err) {
            const r = reasonOfError(err);
            finish(false, r.reason, r.message);
          }
        });
      });
    });
  },
};
