import type { Socket } from 'node:net';
import { type Conversation, converse, type Decision } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget } from './types.ts';

// Capability flags (MySQL client/server protocol, "Capabilities Flags").
const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH = 0x80000;

/** COM_QUIT, sequence 0: ends the session cleanly so the server counts no aborted connection. */
const COM_QUIT = Buffer.from([1, 0, 0, 0, 0x01]);

/** Server errors that mean the login was refused (ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR). */
const ACCESS_DENIED = new Set([1045, 1698]);

/**
 * `mysql` check (H1): the real protocol, as a client would log in. Reads the server greeting
 * (protocol 10), sends a HandshakeResponse41 for `healthCheck.mysql.user` (default `root`)
 * with an empty password, answers one auth-switch request with an empty response, and
 * expects OK. Then sends COM_QUIT and closes, so the server logs no aborted connection.
 * Access denied → `auth-failed`; other server errors → `server-error`; anything that is not
 * the protocol → `protocol-error`.
 */
export const mysqlCheck: HealthCheck = {
  type: 'mysql',
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult> {
    return converse(target, signal, mysqlConversation(target.settings.mysql?.user ?? 'root'));
  },
};

function mysqlConversation(user: string): Conversation {
  let offset = 0;
  let phase: 'greeting' | 'auth' | 'done' = 'greeting';
  let switched = false;
  return {
    start: () => undefined,
    data(received: Buffer, socket: Socket): Decision | undefined {
      for (;;) {
        if (received.length - offset < 4) return undefined;
        const len = received[offset]! | (received[offset + 1]! << 8) | (received[offset + 2]! << 16);
        const seq = received[offset + 3]!;
        if (received.length - offset - 4 < len) {
          if (phase === 'greeting' && len > 4096) return notMysql(received);
          return undefined;
        }
        const p = received.subarray(offset + 4, offset + 4 + len);
        offset += 4 + len;
        if (phase === 'greeting') {
          if (p[0] === 0xff) return serverError(p);
          if (p[0] !== 10 || len < 32) return notMysql(received);
          const versionEnd = p.indexOf(0, 1);
          if (versionEnd < 0) return notMysql(received);
          const capLow = p.readUInt16LE(versionEnd + 1 + 4 + 8 + 1);
          const capHigh =
            p.length >= versionEnd + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 ? p.readUInt16LE(versionEnd + 1 + 18) : 0;
          const serverCaps = capLow | (capHigh << 16);
          if ((serverCaps & CLIENT_PROTOCOL_41) === 0) {
            return { ok: false, reason: 'protocol-error', message: 'server does not speak protocol 4.1' };
          }
          socket.write(handshakeResponse(user, serverCaps, seq + 1));
          phase = 'auth';
          continue;
        }
        if (phase === 'auth') {
          const head = p[0];
          if (head === 0x00) {
            phase = 'done';
            return { ok: true, reason: 'ok', message: `logged in as ${user}`, farewell: COM_QUIT };
          }
          if (head === 0xff) return serverError(p);
          if (head === 0xfe && !switched) {
            // Auth switch request: answer with the (empty) password for the requested plugin.
            switched = true;
            socket.write(Buffer.from([0, 0, 0, (seq + 1) & 0xff]));
            continue;
          }
          if (head === 0x01) continue; // AuthMoreData (caching_sha2 fast path): wait for OK/ERR.
          return {
            ok: false,
            reason: 'protocol-error',
            message: `unexpected login answer 0x${(head ?? 0).toString(16)}`,
          };
        }
        return undefined;
      }
    },
  };
}

function handshakeResponse(user: string, serverCaps: number, seq: number): Buffer {
  const caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | (serverCaps & CLIENT_PLUGIN_AUTH);
  const userBytes = Buffer.from(user, 'utf8');
  const plugin = caps & CLIENT_PLUGIN_AUTH ? Buffer.from('mysql_native_password\0', 'latin1') : Buffer.alloc(0);
  const len = 4 + 4 + 1 + 23 + userBytes.length + 1 + 1 + plugin.length;
  const b = Buffer.alloc(4 + len);
  b.writeUIntLE(len, 0, 3);
  b[3] = seq & 0xff;
  let o = 4;
  b.writeUInt32LE(caps >>> 0, o);
  o += 4;
  b.writeUInt32LE(16 * 1024 * 1024, o); // max packet size
  o += 4;
  b[o] = 33; // utf8_general_ci
  o += 1 + 23; // filler
  userBytes.copy(b, o);
  o += userBytes.length + 1; // NUL-terminated
  b[o] = 0; // auth response length: empty password
  o += 1;
  plugin.copy(b, o);
  return b;
}

function serverError(p: Buffer): Decision {
  const code = p.length >= 3 ? p.readUInt16LE(1) : 0;
  const msgStart = p[3] === 0x23 ? 9 : 3; // '#' + 5-char SQLSTATE
  const message = `${code}: ${p.toString('utf8', msgStart)}`;
  return { ok: false, reason: ACCESS_DENIED.has(code) ? 'auth-failed' : 'server-error', message };
}

function notMysql(received: Buffer): Decision {
  return { ok: false, reason: 'protocol-error', message: `not a MySQL greeting: ${printable(received)}` };
}

/** First bytes of an answer as printable text, for messages. */
export function printable(b: Buffer): string {
  let s = '';
  for (let i = 0; i < b.length && i < 40; i++) {
    const c = b[i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return JSON.stringify(s);
}
