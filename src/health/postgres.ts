import { printable } from './mysql.ts';
import { type Conversation, converse, type Decision } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from './types.ts';

const PROTOCOL_3_0 = 196608;
/** Terminate message ('X', length 4): ends a started session cleanly. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
const EMPTY = Buffer.alloc(0);

/**
 * `postgres` check (H1): the real startup exchange. Sends a StartupMessage (protocol 3.0)
 * for `healthCheck.postgres.user` / `database` (defaults `postgres` / the user). Healthy when
 * the server asks for authentication (then the probe just closes, which the server treats
 * as a silent disconnect) or when it answers AuthenticationOk and then ReadyForQuery (then
 * the probe sends Terminate). An ErrorResponse is unhealthy with the server's message
 * (`auth-failed` for SQLSTATE class 28, else `server-error`); anything else is
 * `protocol-error`.
 */
export const postgresCheck: HealthCheck = {
  type: 'postgres',
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    const user = target.settings.postgres?.user ?? 'postgres';
    const database = target.settings.postgres?.database ?? user;
    return converse(target, signal, postgresConversation(user, database));
  },
};

function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0application_name\0fulcrum-health-check\0\0`, 'utf8');
  const b = Buffer.alloc(8 + body.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE(PROTOCOL_3_0, 4);
  body.copy(b, 8);
  return b;
}

function postgresConversation(user: string, database: string): Conversation {
  let offset = 0;
  let authenticated = false;
  return {
    start(socket) {
      socket.write(startupMessage(user, database));
      return undefined;
    },
    data(received: Buffer): Decision | undefined {
      for (;;) {
        if (received.length - offset < 5) return undefined;
        const type = received[offset]!;
        const len = received.readInt32BE(offset + 1);
        if (len < 4 || len > 65536 || !isKnownType(type)) {
          return { ok: false, reason: 'protocol-error', message: `not a PostgreSQL answer: ${printable(received)}` };
        }
        if (received.length - offset - 1 < len) return undefined;
        const body = received.subarray(offset + 5, offset + 1 + len);
        offset += 1 + len;
        if (type === 0x52 /* R */) {
          const code = body.length >= 4 ? body.readInt32BE(0) : -1;
          if (code === 0) {
            authenticated = true;
            continue;
          }
          if (authenticated)
            return { ok: false, reason: 'protocol-error', message: 'authentication request after AuthenticationOk' };
          return {
            ok: true,
            reason: 'ok',
            message: `server asks for authentication (method ${code})`,
            farewell: EMPTY,
          };
        }
        if (type === 0x45 /* E */) return errorResponse(body);
        if (type === 0x5a /* Z */) {
          if (!authenticated)
            return { ok: false, reason: 'protocol-error', message: 'ReadyForQuery before authentication' };
          return { ok: true, reason: 'ok', message: `session started for ${user}@${database}`, farewell: TERMINATE };
        }
        // S ParameterStatus, K BackendKeyData, N NoticeResponse, v NegotiateProtocolVersion: keep reading.
      }
    },
  };
}

function isKnownType(t: number): boolean {
  return t === 0x52 || t === 0x45 || t === 0x5a || t === 0x53 || t === 0x4b || t === 0x4e || t === 0x76;
}

function errorResponse(body: Buffer): Decision {
  let severity = '';
  let code = '';
  let message = '';
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const field = body[i]!;
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    const value = body.toString('utf8', i + 1, end);
    if (field === 0x53 /* S */) severity = value;
    else if (field === 0x43 /* C */) code = value;
    else if (field === 0x4d /* M */) message = value;
    i = end + 1;
  }
  const text = `${severity || 'ERROR'}: ${message || 'error without message'}${code ? ` (SQLSTATE ${code})` : ''}`;
  return { ok: false, reason: code.startsWith('28') ? 'auth-failed' : 'server-error', message: text };
}
