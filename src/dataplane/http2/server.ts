import http2 from 'node:http2';
import type tls from 'node:tls';
import type { HttpFrontend } from '../http/frontend.ts';
import type { ListenerContext } from '../types.ts';
import { type H2SessionState, h2SessionState, serveH2Stream } from './stream.ts';

/** Concurrent streams an HTTP/2 client may open on one connection. */
const MAX_CONCURRENT_STREAMS = 256;

/**
 * The HTTP/2 side of an `https` frontend: a node:http2 server that is handed TLS sockets whose
 * client chose `h2` by ALPN (`serve(socket)`), counts its sessions as client connections, closes
 * idle ones after `clientIdleSeconds`, and serves each stream through `serveH2Stream` (one
 * `Exchange` per stream, `./stream.ts`). `close(drainMs)` sends GOAWAY to every session and
 * destroys what is still open after `drainMs`.
 */
export class H2Server {
  readonly #server: http2.Http2Server;
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  constructor(frontend: HttpFrontend, ctx: ListenerContext) {
    this.#server = http2.createServer({
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
      maxSessionMemory: 64,
    });
    const states = new WeakMap<http2.ServerHttp2Session, H2SessionState>();
    this.#server.on('stream', (stream, headers, _flags, rawHeaders) => {
      const session = stream.session as http2.ServerHttp2Session;
      let state = states.get(session);
      if (state === undefined) states.set(session, (state = h2SessionState()));
      serveH2Stream(frontend, stream, headers, rawHeaders, state);
    });
    this.#server.on('session', (session: http2.ServerHttp2Session) => {
      this.#sessions.add(session);
      ctx.counters.opened();
      ctx.counters.totalConnections++;
      const idle = frontend.spec.clientIdleTimeoutMs;
      if (idle > 0) session.setTimeout(idle, () => session.close());
      if (frontend.closing) session.close();
      session.on('error', () => {
        ctx.counters.clientErrors++;
      });
      session.once('close', () => {
        this.#sessions.delete(session);
        ctx.counters.closed();
      });
    });
  }

  /** Serves a TLS socket that negotiated `h2`. */
  serve(socket: tls.TLSSocket): void {
    this.#server.emit('connection', socket);
  }

  /** GOAWAY to every session; resolves when all are closed, destroying what is left after `drainMs`. */
  close(drainMs: number): Promise<void> {
    const sessions = [...this.#sessions];
    for (const s of sessions) s.close();
    return Promise.all(
      sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.closed || s.destroyed) return resolve();
            const t = setTimeout(() => {
              s.destroy();
              resolve();
            }, drainMs);
            s.once('close', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    ).then(() => {});
  }
}
