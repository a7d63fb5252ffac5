import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { describeTlsError, peerIssuer } from '../core/tls-errors.ts';
import type { ProbeResult, ProbeTarget, ReasonCode } from './types.ts';

/** Upper bound of bytes a probe reads from a server (issue point 1: body bounded to 64 KiB). */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** Certificate verification failures (OpenSSL / Node codes) that mean "untrusted" (T3). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Maps a socket, TLS or HTTP client error to a stable reason code (see ReasonCodes) and a
 * message that keeps the system's wording.
 */
export function reasonOfError(err: unknown, issuer?: string): { reason: ReasonCode; message: string } {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = e?.message ?? String(err);
  if (code === 'ECONNREFUSED') return { reason: 'connection-refused', message };
  if (code === 'ETIMEDOUT' || code === 'ABORT_ERR' || e?.name === 'AbortError') return { reason: 'timeout', message };
  if (UNTRUSTED.has(code)) return { reason: 'tls-untrusted', message: `${describeTlsError(code, issuer)} (${code})` };
  if (code.startsWith('HPE_') || code.startsWith('ERR_SSL_') || code === 'EPROTO')
    return { reason: 'protocol-error', message };
  if (code === 'ECONNRESET' && message === 'socket hang up') {
    return { reason: 'protocol-error', message: 'connection closed by the server before an answer' };
  }
  return { reason: 'connection-error', message: code ? `${code}: ${message}` : message };
}

/** A probe's decision before latency is added. `farewell`: bytes to send before closing cleanly. */
export interface Decision {
  ok: boolean;
  reason: ReasonCode;
  message: string;
  farewell?: Buffer;
}

/**
 * The protocol part of a socket probe. `start` writes the request once connected (after
 * the TLS handshake for tls), or decides at once (tcp, tls checks); `data` sees every byte received so far and returns a Decision
 * or undefined to wait for more; `closed` decides when the peer closes first (default:
 * protocol-error).
 */
export interface Conversation {
  start(socket: Socket): Decision | undefined;
  data(received: Buffer, socket: Socket): Decision | undefined;
  closed?(received: Buffer): Decision;
}

const EMPTY = Buffer.alloc(0);

/**
 * Opens the probe's connection: plain TCP, or TLS with `target.tls` when `useTls`. With
 * `target.proxyHeader` (issue 15 point 3) the PROXY header goes first, before any TLS handshake.
 */
export function probeConnect(target: ProbeTarget, useTls: boolean): Socket {
  const header = target.proxyHeader;
  if (header === undefined) {
    return useTls
      ? tlsConnect({ ...target.tls, host: target.address, port: target.port })
      : netConnect({ host: target.address, port: target.port });
  }
  const raw = netConnect({ host: target.address, port: target.port });
  raw.write(header);
  if (!useTls) return raw;
  const secure = tlsConnect({ ...target.tls, host: target.address, port: target.port, socket: raw });
  raw.once('error', (err) => secure.destroy(err));
  return secure;
}

/**
 * Connects to `target` (plain TCP, or TLS with `target.tls` when `useTls`), runs the
 * conversation and resolves with a ProbeResult; never rejects. On a decision the socket is
 * ended cleanly (after `farewell`), on failure or abort it is destroyed. Aborting `signal`
 * resolves with reason `timeout`.
 */
export function converse(
  target: ProbeTarget,
  signal: AbortSignal,
  conv: Conversation,
  useTls = false,
): Promise<ProbeResult> {
  const t0 = performance.now();
  return new Promise<ProbeResult>((resolve) => {
    if (signal.aborted) {
      resolve({ ok: false, reason: 'timeout', message: 'aborted before connecting', latencyMs: 0 });
      return;
    }
    let done = false;
    let received: Buffer = EMPTY;
    const socket: Socket = probeConnect(target, useTls);
    const finish = (d: Decision, graceful: boolean): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      if (graceful) {
        // Clean close: the server sees our farewell then FIN; drop the socket if it lingers.
        socket.setTimeout(Math.max(1000, target.timeoutMs), () => socket.destroy());
        socket.on('end', () => socket.destroy());
        if (d.farewell) socket.end(d.farewell);
        else socket.end();
      } else {
        socket.destroy();
      }
      resolve({ ok: d.ok, reason: d.reason, message: d.message, latencyMs: Math.round(performance.now() - t0) });
    };
    const onAbort = (): void =>
      finish({ ok: false, reason: 'timeout', message: `no complete answer within ${target.timeoutMs} ms` }, false);
    signal.addEventListener('abort', onAbort);
    socket.on('error', (err) => {
      const r = reasonOfError(err, useTls ? peerIssuer(socket as TLSSocket) : undefined);
      finish({ ok: false, reason: r.reason, message: r.message }, false);
    });
    socket.once(useTls ? 'secureConnect' : 'connect', () => {
      if (done) return;
      let d: Decision | undefined;
      try {
        d = conv.start(socket);
      } catch (err) {
        d = { ok: false, reason: 'protocol-error', message: String(err) };
      }
      if (d) finish(d, d.farewell !== undefined);
    });
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (received.length > MAX_ANSWER_BYTES) {
        finish({ ok: false, reason: 'protocol-error', message: `answer longer than ${MAX_ANSWER_BYTES} bytes` }, false);
        return;
      }
      let d: Decision | undefined;
      try {
        d = conv.data(received, socket);
      } catch (err) {
        d = { ok: false, reason: 'protocol-error', message: `unreadable answer: ${(err as Error).message}` };
      }
      if (d) finish(d, d.farewell !== undefined);
    });
    socket.on('end', () => {
      if (done) return;
      const d = conv.closed
        ? conv.closed(received)
        : { ok: false, reason: 'protocol-error' as const, message: 'connection closed by the server before an answer' };
      finish(d, false);
    });
  });
}
