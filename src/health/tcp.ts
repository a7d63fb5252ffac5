import { type Conversation, converse, type Decision } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from './types.ts';

/**
 * `tcp` check (H1): healthy when a TCP connection to the check port is accepted. The
 * connection is closed at once with FIN; nothing is sent.
 */
export const tcpCheck: HealthCheck = {
  type: 'tcp',
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    return converse(target, signal, connectOnly);
  },
};

const connectOnly: Conversation = {
  start(): Decision {
    return { ok: true, reason: 'ok', message: 'connected' };
  },
  data(): undefined {
    return undefined;
  },
};
