import net from 'node:net';
import type { FrontendSpec } from '../../config/snapshot.ts';
import { listenFrontend } from '../listen.ts';
import { type ClientEndpoints, readProxyHeader } from '../proxy-protocol.ts';
import type { ListenerContext, ListenerFactory, ProtocolListener } from '../types.ts';
import { HttpFrontend, serveHttpConnection, unmapV4 } from './connection.ts';
import { isTrustedProxy } from './forward-headers.ts';
import type { ServerChooser } from './route.ts';

export { HttpConnection, HttpFrontend, type ServeOptions, serveHttpConnection } from './connection.ts';
export { balancerChooser, type ChooseRequest, type ServerChooser } from './route.ts';

/**
 * An `http` frontend (F1, F4): a plain TCP listener whose connections are served by
 * `serveHttpConnection`. `replace(spec)` swaps the spec for new connections and for new
 * requests on open keep-alive connections (S2); `stopAccepting()` frees the port at once;
 * `close(drainMs)` also closes idle keep-alive connections, lets in-flight exchanges finish
 * for at most `drainMs` (their answers say `Connection: close`) and destroys the rest.
 * `maxConnections` (0 = unlimited) closes connections beyond the limit at accept.
 */
class HttpListener implements ProtocolListener {
  readonly frontend: HttpFrontend;
  readonly #server: net.Server;
  #stopped: Promise<void> | undefined;

  readonly #reusePort: boolean;

  constructor(spec: FrontendSpec, ctx: ListenerContext, options: HttpListenerOptions = {}) {
    this.frontend = new HttpFrontend(spec, ctx, options);
    this.#reusePort = options.reusePort === true;
    const frontend = this.frontend;
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const max = frontend.spec.maxConnections;
      if (max > 0 && ctx.counters.activeConnections >= max) {
        ctx.counters.refused++;
        socket.destroy();
        return;
      }
      if (frontend.spec.acceptProxyProtocol)
        acceptProxied(socket, frontend, (proxied) => {
          serveHttpConnection(socket, frontend, proxied === null ? {} : { proxied });
          socket.resume();
        });
      else serveHttpConnection(socket, frontend);
    });
  }

  open(): Promise<void> {
    const spec = this.frontend.spec;
    return listenFrontend(
      this.#server,
      { host: spec.bindAddress, port: spec.port, frontendId: spec.id, reusePort: this.#reusePort },
      this.frontend.ctx.log,
      'http',
    ).then(() => this.frontend.start());
  }

  replace(spec: FrontendSpec): void {
    this.frontend.spec = spec;
  }

  stopAccepting(): Promise<void> {
    // net.Server#close closes the listening handle at once but calls back only when every
    // connection is gone; the port is free after the handle's close, one loop turn later.
    this.#stopped ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close();
      setImmediate(resolve);
    });
    return this.#stopped;
  }

  async close(drainMs: number): Promise<void> {
    const stopped = this.stopAccepting();
    await this.frontend.drain(drainMs);
    this.frontend.stop();
    await stopped;
  }
}

/**
 * `acceptProxyProtocol` (issue 15 point 3): only a source in `trustedProxies` may connect, and
 * it must open with a valid PROXY header, read within the request head timeout; otherwise the
 * connection is closed and counted (`refused`, `proxyProtocolRefused`, termination bad-request).
 * `then` gets the endpoints the header names, or null for LOCAL / UNKNOWN (the socket's own).
 */
export function acceptProxied(
  socket: net.Socket,
  frontend: HttpFrontend,
  then: (proxied: ClientEndpoints | null) => void,
): void {
  const spec = frontend.spec;
  const counters = frontend.ctx.counters;
  const refuse = (): void => {
    counters.refused++;
    counters.proxyProtocolRefused++;
    counters.terminations['bad-request']++;
    socket.destroy();
  };
  socket.on('error', () => {});
  if (!isTrustedProxy(spec, unmapV4(socket.remoteAddress))) {
    refuse();
    return;
  }
  readProxyHeader(socket, spec.requestHeaderTimeoutMs, (info) => {
    if (info === null) {
      refuse();
      return;
    }
    const src = info.source;
    then(
      src === null
        ? null
        : {
            sourceAddress: src.sourceAddress,
            sourcePort: src.sourcePort,
            destinationAddress: src.destinationAddress,
            destinationPort: src.destinationPort,
          },
    );
  });
}

/** Options of every listener a factory builds. */
export interface HttpListenerOptions {
  /** Picks the server per request and may add response headers (persistence, P1–P3); default: the balancer. */
  chooser?: ServerChooser;
  /**
   * Bind with SO_REUSEPORT (`--reuse-port`): several Fulcrum nodes on one machine share each
   * frontend's address and port, the kernel spreading connections among them (C5, issue 14).
   */
  reusePort?: boolean;
}

/** A ListenerFactory for `http` frontends with options (e.g. `{ chooser: persistenceChooser(…) }`). */
export function httpListenerFactory(options: HttpListenerOptions = {}): ListenerFactory {
  return (spec, ctx) => new HttpListener(spec, ctx, options);
}

/** ListenerFactory for `http` frontends with the balancer-only chooser (plane factories: `{ http: createHttpListener }`). */
export const createHttpListener: ListenerFactory = httpListenerFactory();
