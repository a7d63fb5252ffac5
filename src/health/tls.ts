import { type Conversation, converse, type Decision } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from './types.ts';

/**
 * `tls` check (H1 beyond, T3): healthy when a TLS handshake with the backend's settings
 * (CA bundle, SNI, verification) completes. An unverifiable certificate is unhealthy with
 * reason `tls-untrusted`; a peer that does not speak TLS gives `protocol-error`.
 */
export const tlsCheck: HealthCheck = {
  type: 'tls',
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    return converse(target, signal, handshakeOnly, true);
  },
};

const handshakeOnly: Conversation = {
  start(): Decision {
    return { ok: true, reason: 'ok', message: 'TLS handshake completed' };
  },
  data(): undefined {
    return undefined;
  },
};
