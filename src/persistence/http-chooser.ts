import type { PickContext } from '../balancer/types.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import type { PersistenceBackend, PersistenceManager, PersistenceRequest } from './choose.ts';

/** The parts of a parsed HTTP head the chooser reads (parallel arrays, lower-case names). */
export interface HeadLike {
  readonly lower: readonly string[];
  readonly values: readonly string[];
}

/** The parts of the HTTP data plane's ChooseRequest (src/dataplane/http/route.ts) the chooser reads. */
export interface ChooseRequestLike {
  readonly head: HeadLike;
  readonly clientAddress: string;
  readonly pick: PickContext;
  /** The client connection is TLS: the inserted cookie gets `Secure`. */
  readonly https?: boolean;
}

/**
 * The HTTP data plane's `ServerChooser` backed by persistence (P1–P3), structurally typed so
 * this module does not import the data plane (DESIGN.md dependency direction).
 * `choose(backend, req)` returns the server; `responseHeaders(backend, server, req, status,
 * response?)` returns `Set-Cookie: …\r\n` when the choice inserted or refreshed a cookie
 * (else ''), and — when the data plane passes the upstream response head as 5th argument —
 * learns app-cookie values from its `Set-Cookie` headers.
 */
export interface PersistenceChooser {
  choose(backend: PersistenceBackend, req: ChooseRequestLike): ServerRuntime | undefined;
  responseHeaders(
    backend: PersistenceBackend,
    server: ServerRuntime,
    req: ChooseRequestLike,
    status: number,
    response?: HeadLike,
  ): string;
}

/** The `cookie` header value(s) of a head: undefined, one string, or (rare) several. */
export function headerValues(head: HeadLike, name: string): string | string[] | undefined {
  let one: string | undefined;
  let many: string[] | undefined;
  const lower = head.lower;
  for (let i = 0; i < lower.length; i++) {
    if (lower[i] !== name) continue;
    const v = head.values[i]!;
    if (one === undefined) one = v;
    else (many ??= [one]).push(v);
  }
  return many ?? one;
}

/**
 * Wires a PersistenceManager into the HTTP data plane: pass the result as the HttpFrontend's
 * `chooser`. `now` gives ms epoch (the Runtime's clock). One facts object is reused (choose
 * is synchronous); the pending `Set-Cookie` of a request is kept per request object until its
 * response head is written.
 */
export function persistenceChooser(manager: PersistenceManager, now: () => number): PersistenceChooser {
  const pending = new WeakMap<object, string>();
  const facts: PersistenceRequest = {};
  return {
    choose(backend, req) {
      facts.clientAddress = req.clientAddress;
      facts.cookie = headerValues(req.head, 'cookie');
      facts.secure = req.https === true;
      facts.exclude = req.pick.exclude;
      const c = manager.choose(backend, facts, now());
      facts.cookie = undefined;
      facts.exclude = undefined;
      if (c.setCookie !== undefined) pending.set(req, c.setCookie);
      else pending.delete(req);
      return c.server;
    },
    responseHeaders(backend, server, req, _status, response) {
      if (response) {
        const sc = headerValues(response, 'set-cookie');
        if (sc !== undefined) manager.learn(backend, server, sc, now());
      }
      const setCookie = pending.get(req);
      if (setCookie === undefined) return '';
      pending.delete(req);
      return `Set-Cookie: ${setCookie}\r\n`;
    },
  };
}
