import { printable } from './mysql.ts';
import { type Conversation, converse, type Decision } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from './types.ts';

const PING = Buffer.from('*1\r\n$4\r\nPING\r\n', 'latin1');
const QUIT = Buffer.from('*1\r\n$4\r\nQUIT\r\n', 'latin1');

/**
 * `redis` check (H1 beyond): sends PING (RESP), healthy on `+PONG`, then QUIT. An error
 * reply is unhealthy with the server's text: `-NOAUTH`/`-WRONGPASS`/`-NOPERM` → `auth-failed`,
 * any other (`-LOADING`, `-MASTERDOWN`, `-BUSY`, …) → `server-error`; anything that is not a
 * RESP reply → `protocol-error`.
 */
export const redisCheck: HealthCheck = {
  type: 'redis',
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    return converse(target, signal, redisConversation);
  },
};

const redisConversation: Conversation = {
  start(socket) {
    socket.write(PING);
    return undefined;
  },
  data(received: Buffer): Decision | undefined {
    const first = received[0];
    if (first !== 0x2b /* + */ && first !== 0x2d /* - */) {
      return { ok: false, reason: 'protocol-error', message: `not a Redis reply: ${printable(received)}` };
    }
    const eol = received.indexOf('\r\n');
    if (eol < 0) {
      return received.length > 4096
        ? { ok: false, reason: 'protocol-error', message: 'Redis reply line too long' }
        : undefined;
    }
    const line = received.toString('utf8', 1, eol);
    if (first === 0x2b) {
      return line === 'PONG'
        ? { ok: true, reason: 'ok', message: 'PONG', farewell: QUIT }
        : { ok: false, reason: 'protocol-error', message: `unexpected reply to PING: +${line}` };
    }
    const auth = line.startsWith('NOAUTH') || line.startsWith('WRONGPASS') || line.startsWith('NOPERM');
    return { ok: false, reason: auth ? 'auth-failed' : 'server-error', message: `-${line}` };
  },
};
