import type net from 'node:net';
import tls from 'node:tls';
import type { Certificate } from '../../config/model.ts';
import type { FrontendSpec } from '../../config/snapshot.ts';
import { HttpFrontend, serveHttpConnection } from '../http/connection.ts';
import { acceptProxied } from '../http/listener.ts';
import type { ServerChooser } from '../http/route.ts';
import { H2Server } from '../http2/server.ts';
import { listenFrontend } from '../listen.ts';
import { proxiedPeer, rememberProxied } from '../proxy-protocol.ts';
import { SERVER_TLS_OPTIONS, ServerContexts, type SniTable, selectCredential } from '../tls/contexts.ts';
import type { ListenerContext, ListenerFactory, ProtocolListener } from '../types.ts';

/**
 * An `https` frontend (T1): TLS 1.2/1.3 termination with the frontend's certificates chosen
 * by SNI (exact names, `*.` wildcards; the first certificate for unknown names or no SNI),
 * ALPN `h2` and `http/1.1`. HTTP/1.1 connections are served by our own HTTP data plane
 * (`serveHttpConnection(…, { https: true })`: `X-Forwarded-Proto: https`); HTTP/2 sessions by
 * `../http2/` (node:http2) with each stream forwarded over the same pooled HTTP/1.1 upstream path.
 * `replace(spec)` swaps routing and certificates for new handshakes and requests; open
 * connections keep their session keys (live rotation). `close(drainMs)` ends HTTP/1.1
 * connections like an http frontend and sends GOAWAY to HTTP/2 sessions.
 */
class HttpsListener implements ProtocolListener {
  readonly frontend: HttpFrontend;
  readonly #server: tls.Server;
  readonly #h2: H2Server;
  readonly #contexts: ServerContexts;
  #table: SniTable | undefined;
  #certs: readonly Certificate[] = [];
  #stopped: Promise<void> | undefined;
  readonly #reusePort: boolean;

  constructor(
    spec: FrontendSpec,
    ctx: ListenerContext,
    contexts: ServerContexts,
    chooser?: ServerChooser,
    reusePort = false,
  ) {
    this.frontend = new HttpFrontend(spec, ctx, chooser ? { chooser } : {});
    this.#contexts = contexts;
    this.#reusePort = reusePort;
    const frontend = this.frontend;
    this.#server = tls.createServer({
      ...SERVER_TLS_OPTIONS,
      ALPNProtocols: ['h2', 'http/1.1'],
      SNICallback: (servername, cb) => {
        const table = this.#table;
        if (table === undefined) cb(new Error('no certificate'), undefined);
        else cb(null, selectCredential(table, servername).context);
      },
      handshakeTimeout: Math.max(1000, spec.requestHeaderTimeoutMs),
      allowHalfOpen: true,
    });
    this.#h2 = new H2Server(frontend, ctx);
    this.#server.on('secureConnection', (socket: tls.TLSSocket) => {
      const max = frontend.spec.maxConnections;
      if (max > 0 && ctx.counters.activeConnections >= max) {
        ctx.counters.refused++;
        socket.destroy();
        return;
      }
      if (socket.alpnProtocol === 'h2') this.#h2.serve(socket);
      else {
        const proxied = proxiedPeer(socket);
        serveHttpConnection(socket, frontend, proxied === undefined ? { https: true } : { https: true, proxied });
      }
    });
    // acceptProxyProtocol (issue 15 point 3): the PROXY header comes before the TLS handshake
    const server = this.#server;
    const handshake = server.listeners('connection') as ((raw: net.Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (raw: net.Socket) => {
      if (!frontend.spec.acceptProxyProtocol) {
        for (const l of handshake) l.call(server, raw);
        return;
      }
      acceptProxied(raw, frontend, (proxied) => {
        if (proxied !== null) rememberProxied(raw, proxied);
        for (const l of handshake) l.call(server, raw);
      });
    });
    this.#server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
      ctx.counters.refused++;
      socket.destroy();
      ctx.log.debug({ frontendId: frontend.spec.id, code: err.code }, 'TLS handshake failed');
    });
  }

  open(): Promise<void> {
    const spec = this.frontend.spec;
    try {
      this.#applyCertificates(spec.certificates);
    } catch (err) {
      return Promise.reject(err);
    }
    return listenFrontend(
      this.#server,
      { host: spec.bindAddress, port: spec.port, frontendId: spec.id, reusePort: this.#reusePort },
      this.frontend.ctx.log,
      'https',
    ).then(() => this.frontend.start());
  }

  replace(spec: FrontendSpec): void {
    this.frontend.spec = spec;
    if (spec.certificates !== this.#certs && !sameCertificates(spec.certificates, this.#certs)) {
      try {
        this.#applyCertificates(spec.certificates);
      } catch (err) {
        this.frontend.ctx.log.error({ err, frontendId: spec.id }, 'https certificates not replaced');
      }
    }
  }

  /** New handshakes use these certificates; open connections keep theirs. Throws when a key cannot be decrypted. */
  #applyCertificates(certs: readonly Certificate[]): void {
    const table = this.#contexts.table(certs);
    this.#table = table;
    this.#certs = certs;
    // The context for clients without SNI (SNICallback is not called then).
    this.#server.setSecureContext({
      ...SERVER_TLS_OPTIONS,
      cert: table.fallback.cert,
      key: table.fallback.key,
      ...(this.#contexts.ticketKeys ? { ticketKeys: this.#contexts.ticketKeys } : {}),
    });
  }

  stopAccepting(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close();
      setImmediate(resolve);
    });
    return this.#stopped;
  }

  async close(drainMs: number): Promise<void> {
    const stopped = this.stopAccepting();
    const h2Done = this.#h2.close(drainMs);
    await Promise.all([this.frontend.drain(drainMs), h2Done]);
    this.frontend.stop();
    await stopped;
  }
}

function sameCertificates(a: readonly Certificate[], b: readonly Certificate[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Certificate;
    const y = b[i] as Certificate;
    if (x.id !== y.id || x.fingerprintSha256 !== y.fingerprintSha256) return false;
  }
  return true;
}

/** Options of the https listener factory. */
export interface HttpsListenerOptions {
  /** Decrypts certificate private keys (T1; see certificates/secret.ts). */
  secretKey: Buffer;
  /** Picks the server per request (persistence, P1–P3); default: the balancer. */
  chooser?: ServerChooser;
  /** Bind with SO_REUSEPORT (`--reuse-port`): several nodes on one machine share the port (C5). */
  reusePort?: boolean;
  /** 48 bytes of TLS session ticket keys shared by every worker thread (issue 13 point 1); default: per context. */
  ticketKeys?: Buffer;
}

/**
 * A ListenerFactory for `https` frontends (T1). Plane factories:
 * `{ https: httpsListenerFactory({ secretKey, chooser }) }`. Throws (the frontend's status
 * says why) when a certificate's key cannot be decrypted.
 */
export function httpsListenerFactory(options: HttpsListenerOptions): ListenerFactory {
  const contexts = new ServerContexts(options.secretKey, options.ticketKeys);
  return (spec, ctx) => new HttpsListener(spec, ctx, contexts, options.chooser, options.reusePort === true);
}
