import type net from 'node:net';
import { matchSniRule, parseClientHello } from './client-hello.ts';

export { matchSniRule };

/**
 * Reads a client's TLS ClientHello for passthrough routing (T4): resumes the (paused)
 * socket, collects bytes until the ClientHello is complete, then pauses it again and calls
 * `done(bytes, serverName)` with every byte read (to replay to the server) and the SNI
 * (lower case, or null). Calls `done(null, null)` when the bytes are not a ClientHello,
 * exceed the bound (64 KiB), the client closes first, or `timeoutMs` passes.
 */
export function readClientHello(
  socket: net.Socket,
  timeoutMs: number,
  done: (hello: Buffer | null, serverName: string | null) => void,
): void {
  let buf: Buffer | null = null;
  let finished = false;
  const finish = (hello: Buffer | null, name: string | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.pause();
    done(hello, name);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    const r = parseClientHello(buf);
    if (r.status === 'ok') finish(buf, r.serverName);
    else if (r.status === 'invalid') finish(null, null);
  };
  const onEnd = (): void => finish(null, null);
  const timer = setTimeout(() => finish(null, null), Math.max(1, timeoutMs));
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.resume();
}
