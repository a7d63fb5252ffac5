import type { Balancer } from '../balancer/types.ts';
import { Defaults } from '../config/defaults.ts';
import type { Persistence } from '../config/model.ts';
import type { BackendSpec } from '../config/snapshot.ts';
import { checkPersistence } from '../config/validate.ts';
import { FulcrumError, invalid } from '../core/errors.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';
import { AppCookiePersistence } from './app-cookie.ts';
import { buildSetCookie, CookieSigner, findCookie, serverToken, type VerifiedCookie } from './cookie.ts';
import { IdleLru } from './lru.ts';
import { clientKey, DEFAULT_MAX_ENTRIES, SourceIpPersistence } from './source-ip.ts';

/** What the data plane knows about a request or connection when it chooses a server. */
export interface PersistenceRequest {
  /** Client IP address (source-ip persistence; also passed to the balancer). */
  clientAddress?: string;
  /** The request's `Cookie` header (cookie, app-cookie). */
  cookie?: string | readonly string[];
  /** The client connection is HTTPS: the inserted cookie gets `Secure`. */
  secure?: boolean;
  /** A server to avoid (retry after a failed connect): a session pinned to it is moved (P3). */
  exclude?: ServerRuntime;
}

/** How `PersistenceManager.explain` classifies a request's session (explain, issue 16). */
export type PersistenceOutcome =
  | 'none'
  | 'hit'
  | 'miss'
  | 'no-cookie'
  | 'valid'
  | 'expired'
  | 'forged'
  | 'server-gone'
  | 'cannot-keep'
  | 'learned'
  | 'hashed';

/** The read-only answer of `PersistenceManager.explain`. */
export interface PersistenceExplanation {
  type: Persistence['type'];
  outcome: PersistenceOutcome;
  /** One sentence: what was found and what follows. */
  reason: string;
  /** The server the session names (table entry, cookie, learned value), even when not kept. */
  pinnedServerId: string | undefined;
  /** Why the pinned server cannot keep the session (`lostBecause`). */
  lostReason?: string;
  /** The server the session stays on; undefined when a new one is chosen. */
  server: ServerRuntime | undefined;
  /** How the server is chosen: the kept session, the balancer's pick, or a consistent hash of `hashKey`. */
  fallback: 'pinned' | 'balancer' | 'hash';
  hashKey?: string;
  /** ISO expiry of a genuine persistence cookie. */
  cookieExpiresAt?: string;
  /** Why the backend's persistence settings were refused (persistence then acts as `none`). */
  configError?: string;
}

/** The answer of `PersistenceManager.choose`. */
export interface PersistenceChoice {
  /** The server to use; undefined when no server can take the request (503 / close). */
  server: ServerRuntime | undefined;
  /** A `Set-Cookie` header value to add to the response (cookie persistence), or undefined. */
  setCookie: string | undefined;
  /** True when an existing session was kept; false for a new or moved (re-pinned, P3) session. */
  persisted: boolean;
}

/** The tables persistence keeps per backend: client addresses (P1) and learned application cookie values (P2). */
export type TableKind = 'source-ip' | 'app-cookie';

/** The part of a BackendRuntime (src/runtime/runtime.ts) persistence needs. Must be the same object across swaps. */
export interface PersistenceBackend {
  readonly id: string;
  readonly spec: BackendSpec;
  readonly servers: readonly ServerRuntime[];
  readonly balancer: Balancer;
}

/** Options of a PersistenceManager. */
export interface PersistenceOptions {
  /**
   * HMAC keys for inserted cookies (P2): the first signs, all verify (rotation). Every worker
   * and node must share them (P5). Default: one random key (single process only).
   */
  cookieKeys?: readonly (string | Uint8Array)[];
  /** Bound of each per-backend table (source-ip clients, app-cookie values). Default 100 000. */
  maxEntries?: number;
}

/**
 * Persistence state of one backend; survives snapshot swaps (held per BackendRuntime object)
 * and follows changes of its `persistence` settings.
 */
export class BackendPersistence {
  settings: Persistence;
  /** Why the settings were refused (then persistence acts as `none`); undefined when fine. */
  configError: FulcrumError | undefined;
  sourceIp: SourceIpPersistence | undefined;
  appCookie: AppCookiePersistence | undefined;
  /** Cookie values already verified (value → token/expiry), so a hit costs no HMAC. */
  readonly verified = new IdleLru<VerifiedCookie>(10_000, 0);
  verifiedKeysGeneration = -1;
  #servers: readonly ServerRuntime[] | undefined;
  readonly #byId = new Map<string, ServerRuntime>();
  readonly #byToken = new Map<string, ServerRuntime>();
  readonly #tokenOf = new Map<ServerRuntime, string>();
  #source: Readonly<Persistence> | undefined;

  constructor() {
    this.settings = { type: 'none', timeoutSeconds: 0 };
  }

  /** Applies the backend's current settings; cheap when unchanged (same object). */
  configure(spec: BackendSpec, maxEntries: number): void {
    if (this.#source === spec.persistence) return;
    this.#source = spec.persistence;
    const p = spec.persistence;
    try {
      checkPersistence(p, spec.mode); // the API's own rules (config/validate.ts)
      this.configError = undefined;
    } catch (e) {
      this.configError = e instanceof FulcrumError ? e : invalid('persistence', String(e));
      this.settings = { type: 'none', timeoutSeconds: 0 };
      this.sourceIp = this.appCookie = undefined;
      return;
    }
    const typeChanged = p.type !== this.settings.type;
    this.settings = { ...p };
    if (p.type === 'source-ip') {
      if (!this.sourceIp || typeChanged) this.sourceIp = new SourceIpPersistence(p.timeoutSeconds, maxEntries);
      else this.sourceIp.configure(p.timeoutSeconds, maxEntries);
    } else this.sourceIp = undefined;
    if (p.type === 'app-cookie') {
      const name = p.cookieName!;
      if (!this.appCookie || typeChanged) this.appCookie = new AppCookiePersistence(name, p.timeoutSeconds, maxEntries);
      else this.appCookie.configure(name, p.timeoutSeconds, maxEntries);
    } else this.appCookie = undefined;
    if (typeChanged) this.verified.clear();
  }

  /** Rebuilds the id and token indexes when the backend's server list changed (new array). */
  index(backend: PersistenceBackend): void {
    if (this.#servers === backend.servers) return;
    this.#servers = backend.servers;
    this.#byId.clear();
    this.#byToken.clear();
    const tokens = new Map(this.#tokenOf);
    this.#tokenOf.clear();
    for (const s of backend.servers) {
      this.#byId.set(s.id, s);
      const token = tokens.get(s) ?? serverToken(backend.id, s.id);
      this.#byToken.set(token, s);
      this.#tokenOf.set(s, token);
    }
  }

  /** The live server with this id in the backend's current configuration. */
  serverById(id: string | undefined): ServerRuntime | undefined {
    return id === undefined ? undefined : this.#byId.get(id);
  }

  serverByToken(token: string): ServerRuntime | undefined {
    return this.#byToken.get(token);
  }

  tokenOf(s: ServerRuntime): string | undefined {
    return this.#tokenOf.get(s);
  }
}

/**
 * The persistence seam of the data plane (P1–P5, S4, S5). One manager per process; it keeps
 * a BackendPersistence per backend runtime object (a WeakMap, so a deleted backend's state
 * goes with it; the Runtime keeps the same object across swaps, so sessions survive them).
 *
 * Per request (HTTP) or connection (TCP, UDP flow) the data plane calls
 * `choose(backendRuntime, facts, now)` instead of `balancer.pick`, proxies to `server`, and
 * adds `setCookie` (if any) to the response; for `app-cookie` backends it passes the
 * server's `Set-Cookie` headers to `learn(...)`.
 *
 * - `none`: the balancer's pick.
 * - `source-ip` (P1, P5): the persisted server, else the backend's consistent hash of the
 *   client address (`Balancer.pickHashed`), remembered with idle expiry.
 * - `cookie` (P2, P5): the server named by a valid signed cookie, else the balancer's pick and
 *   a new cookie; the cookie is re-issued with a fresh expiry once `min(60 s, timeout/10)`
 *   has passed since it was signed, so a session ends after `timeoutSeconds` idle.
 *   Forged, tampered, expired or other-backend cookies are ignored.
 * - `app-cookie` (P2): the server learned for the application cookie's value, else a
 *   consistent hash of the value (remembered from then on); no cookie → the balancer's pick.
 *
 * Re-pin (P3): a persisted server is kept only while `canKeepSession(now)` (enabled, not
 * draining, healthy, not ejected; weight 0 keeps its sessions, S4), it is still in the
 * backend, it is not `exclude`, and — when it is passive — no active server is available
 * (S5: traffic returns to the actives). Otherwise a new server is chosen and persisted.
 */
export class PersistenceManager {
  readonly #states = new WeakMap<PersistenceBackend, BackendPersistence>();
  readonly #maxEntries: number;
  #signer: CookieSigner;
  #keysGeneration = 0;

  /**
   * Told of every entry this process writes into a source-ip or app-cookie table (a new
   * client, a learned value). Worker threads relay them through the primary to the other
   * workers (`replay`), so a session learned on one worker is kept on every other (issue 13
   * point 1; SPEC P5). Undefined in a single process.
   */
  onRemember: ((backendId: string, kind: TableKind, key: string, serverId: string) => void) | undefined;

  /** Throws FulcrumError `invalid` for bad cookie keys, RangeError for `maxEntries` < 1. */
  constructor(options: PersistenceOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer ≥ 1 (got ${options.maxEntries})`);
    }
    this.#signer = options.cookieKeys ? new CookieSigner(options.cookieKeys) : CookieSigner.random();
  }

  /** Replaces the cookie keys (rotation: put the new key first, keep old ones to verify). Throws like CookieSigner. */
  setCookieKeys(keys: readonly (string | Uint8Array)[]): void {
    this.#signer = new CookieSigner(keys);
    this.#keysGeneration++;
  }

  /** The backend's persistence state, created and re-configured on demand. */
  stateOf(backend: PersistenceBackend): BackendPersistence {
    let st = this.#states.get(backend);
    if (!st) {
      st = new BackendPersistence();
      this.#states.set(backend, st);
    }
    st.configure(backend.spec, this.#maxEntries);
    st.index(backend);
    if (st.verifiedKeysGeneration !== this.#keysGeneration) {
      st.verified.clear();
      st.verifiedKeysGeneration = this.#keysGeneration;
    }
    return st;
  }

  /** Chooses the server for one request or connection; see the class comment. `now` is ms epoch. */
  choose(backend: PersistenceBackend, req: PersistenceRequest, now: number): PersistenceChoice {
    const st = this.stateOf(backend);
    switch (st.settings.type) {
      case 'source-ip':
        return this.#sourceIp(backend, st, req, now);
      case 'cookie':
        return this.#cookie(backend, st, req, now);
      case 'app-cookie':
        return this.#appCookie(backend, st, req, now);
      default:
        return { server: pickFresh(backend, req), setCookie: undefined, persisted: false };
    }
  }

  /**
   * App-cookie learning (P2): call with the response headers' `Set-Cookie` of `server`.
   * Does nothing for other persistence types. `now` is ms epoch.
   */
  learn(
    backend: PersistenceBackend,
    server: ServerRuntime,
    setCookie: string | readonly string[] | undefined,
    now: number,
  ): void {
    if (setCookie === undefined) return;
    const st = this.stateOf(backend);
    const value = st.appCookie?.learn(setCookie, server.id, now);
    if (value !== undefined) this.onRemember?.(backend.id, 'app-cookie', value, server.id);
  }

  /**
   * Writes an entry another worker thread remembered (see `onRemember`) into this process's
   * table of `backend`; ignored when the backend's persistence is of another kind now.
   */
  replay(backend: PersistenceBackend, kind: TableKind, key: string, serverId: string, now: number): void {
    const st = this.stateOf(backend);
    if (kind === 'source-ip') st.sourceIp?.remember(key, serverId, now);
    else st.appCookie?.remember(key, serverId, now);
  }

  /**
   * What `choose` would decide for `req` at `now`, read-only (explain, issue 16): nothing is
   * learned, pinned, refreshed or re-signed. The same cookie verification, table entries,
   * keep rule (`lostBecause`) and hash keys as `choose`; when no session is kept, `fallback`
   * says how `choose` picks instead (the balancer, or a consistent hash of `hashKey`).
   */
  explain(backend: PersistenceBackend, req: PersistenceRequest, now: number): PersistenceExplanation {
    const st = this.stateOf(backend);
    const type = st.settings.type;
    const configError = st.configError?.message;
    const out = (
      outcome: PersistenceOutcome,
      reason: string,
      pinned?: ServerRuntime,
      more: Partial<PersistenceExplanation> = {},
    ): PersistenceExplanation => {
      const lost = pinned ? lostBecause(backend, pinned, req, now) : null;
      const kept = pinned !== undefined && lost === null;
      return {
        type,
        outcome: pinned && !kept ? 'cannot-keep' : outcome,
        reason:
          pinned && !kept ? `${reason}, but ${pinned.id} cannot keep it (${lost}): a new server is chosen` : reason,
        pinnedServerId: pinned?.id,
        lostReason: lost ?? undefined,
        server: kept ? pinned : undefined,
        fallback: kept ? 'pinned' : 'balancer',
        configError,
        ...more,
        ...(kept ? { fallback: 'pinned', hashKey: undefined } : {}),
      };
    };
    switch (type) {
      case 'source-ip': {
        const addr = req.clientAddress;
        if (addr === undefined) return out('none', 'no client address: the balancer picks');
        const key = clientKey(addr);
        const hashed = { fallback: 'hash' as const, hashKey: addr };
        const e = st.sourceIp!.table.inspect(key, now);
        if (!e)
          return out(
            'miss',
            `no entry for ${key} in the source-ip table: consistent hash of the address`,
            undefined,
            hashed,
          );
        if (e.expired)
          return out(
            'expired',
            `the entry for ${key} expired (idle since ${iso(e.lastUsed)}): consistent hash of the address`,
            undefined,
            { ...hashed, pinnedServerId: e.value },
          );
        const pinned = st.serverById(e.value);
        if (!pinned)
          return out(
            'server-gone',
            `the entry for ${key} names ${e.value}, no longer in the backend: consistent hash`,
            undefined,
            { ...hashed, pinnedServerId: e.value },
          );
        return out('hit', `source-ip table hit: ${key} → ${pinned.id} (last used ${iso(e.lastUsed)})`, pinned, hashed);
      }
      case 'cookie': {
        const name = st.settings.cookieName ?? Defaults.cookieName;
        const value = findCookie(req.cookie, name);
        if (value === undefined)
          return out('no-cookie', `no ${name} cookie: the balancer picks and a cookie is inserted`);
        const r = this.#signer.inspect(value, backend.id, now);
        if (r.status === 'forged')
          return out(
            'forged',
            `the ${name} cookie is forged, tampered or for another backend: ignored, the balancer picks`,
          );
        const expiresAt = r.cookie.expiresAt === 0 ? undefined : iso(r.cookie.expiresAt * 1000);
        if (r.status === 'expired')
          return out('expired', `the ${name} cookie expired at ${expiresAt}: the balancer picks`, undefined, {
            cookieExpiresAt: expiresAt,
          });
        const pinned = st.serverByToken(r.cookie.token);
        if (!pinned)
          return out(
            'server-gone',
            `the ${name} cookie is valid but names a server no longer in the backend: the balancer picks`,
            undefined,
            { cookieExpiresAt: expiresAt },
          );
        return out(
          'valid',
          `valid ${name} cookie for ${pinned.id}${expiresAt ? ` until ${expiresAt}` : ' (session cookie)'}`,
          pinned,
          { cookieExpiresAt: expiresAt },
        );
      }
      case 'app-cookie': {
        const app = st.appCookie!;
        const value = findCookie(req.cookie, app.cookieName);
        if (value === undefined || value.length === 0)
          return out('no-cookie', `no ${app.cookieName} cookie: the balancer picks`);
        const hashed = { fallback: 'hash' as const, hashKey: value };
        const e = app.table.inspect(value, now);
        if (!e)
          return out(
            'hashed',
            `${app.cookieName} value not learned yet: consistent hash of the value`,
            undefined,
            hashed,
          );
        if (e.expired)
          return out(
            'expired',
            `the learned ${app.cookieName} value expired (idle since ${iso(e.lastUsed)}): consistent hash of the value`,
            undefined,
            { ...hashed, pinnedServerId: e.value },
          );
        const pinned = st.serverById(e.value);
        if (!pinned)
          return out(
            'server-gone',
            `the ${app.cookieName} value was learned from ${e.value}, no longer in the backend: consistent hash`,
            undefined,
            { ...hashed, pinnedServerId: e.value },
          );
        return out('learned', `${app.cookieName} value learned from ${pinned.id}`, pinned, hashed);
      }
      default:
        return out('none', configError ? `persistence is off: ${configError}` : 'no persistence: the balancer picks');
    }
  }

  #sourceIp(
    backend: PersistenceBackend,
    st: BackendPersistence,
    req: PersistenceRequest,
    now: number,
  ): PersistenceChoice {
    const addr = req.clientAddress;
    const table = st.sourceIp!;
    if (addr === undefined) return { server: pickFresh(backend, req), setCookie: undefined, persisted: false };
    const pinned = st.serverById(table.lookup(addr, now));
    if (pinned && keeps(backend, pinned, req, now)) return { server: pinned, setCookie: undefined, persisted: true };
    const server = pickHashed(backend, addr, req);
    if (server) {
      table.remember(addr, server.id, now);
      this.onRemember?.(backend.id, 'source-ip', addr, server.id);
    }
    return { server, setCookie: undefined, persisted: false };
  }

  #cookie(
    backend: PersistenceBackend,
    st: BackendPersistence,
    req: PersistenceRequest,
    now: number,
  ): PersistenceChoice {
    const name = st.settings.cookieName ?? Defaults.cookieName;
    const value = findCookie(req.cookie, name);
    const timeout = st.settings.timeoutSeconds;
    if (value !== undefined) {
      let v = st.verified.get(value, now);
      if (v && v.expiresAt !== 0 && v.expiresAt * 1000 <= now) {
        st.verified.delete(value);
        v = undefined;
      } else if (!v) {
        v = this.#signer.verify(value, backend.id, now);
        if (v) st.verified.set(value, v, now);
      }
      const pinned = v ? st.serverByToken(v.token) : undefined;
      if (v && pinned && keeps(backend, pinned, req, now)) {
        // Sliding expiry: re-sign once the refresh interval has passed since signing.
        const refresh = v.expiresAt !== 0 && (v.expiresAt - timeout) * 1000 + refreshMs(timeout) <= now;
        const setCookie = refresh ? this.#setCookie(backend, st, pinned, req, now) : undefined;
        return { server: pinned, setCookie, persisted: true };
      }
    }
    const server = pickFresh(backend, req);
    const setCookie = server ? this.#setCookie(backend, st, server, req, now) : undefined;
    return { server, setCookie, persisted: false };
  }

  #setCookie(
    backend: PersistenceBackend,
    st: BackendPersistence,
    s: ServerRuntime,
    req: PersistenceRequest,
    now: number,
  ): string {
    const timeout = st.settings.timeoutSeconds;
    const expiresAt = timeout > 0 ? Math.floor(now / 1000) + timeout : 0;
    const value = this.#signer.sign(backend.id, st.tokenOf(s)!, expiresAt);
    return buildSetCookie(st.settings.cookieName ?? Defaults.cookieName, value, {
      timeoutSeconds: timeout,
      secure: req.secure === true,
    });
  }

  #appCookie(
    backend: PersistenceBackend,
    st: BackendPersistence,
    req: PersistenceRequest,
    now: number,
  ): PersistenceChoice {
    const app = st.appCookie!;
    const value = findCookie(req.cookie, app.cookieName);
    if (value === undefined || value.length === 0) {
      return { server: pickFresh(backend, req), setCookie: undefined, persisted: false };
    }
    const pinned = st.serverById(app.lookup(value, now));
    if (pinned && keeps(backend, pinned, req, now)) return { server: pinned, setCookie: undefined, persisted: true };
    const server = pickHashed(backend, value, req);
    if (server) {
      app.remember(value, server.id, now);
      this.onRemember?.(backend.id, 'app-cookie', value, server.id);
    }
    return { server, setCookie: undefined, persisted: false };
  }
}

/** Cookie re-issue interval (ms) for a timeout in seconds: min(60 s, timeout / 10). */
function refreshMs(timeoutSeconds: number): number {
  return Math.min(60_000, timeoutSeconds * 100);
}

function pickFresh(backend: PersistenceBackend, req: PersistenceRequest): ServerRuntime | undefined {
  return backend.balancer.pick(req); // reads clientAddress and exclude only
}

function pickHashed(backend: PersistenceBackend, key: string, req: PersistenceRequest): ServerRuntime | undefined {
  const b = backend.balancer;
  return b.pickHashed ? b.pickHashed(key, req.exclude) : b.pick({ hashKey: key, exclude: req.exclude });
}

/** P3, S4, S5: may `s` keep this session? */
function keeps(backend: PersistenceBackend, s: ServerRuntime, req: PersistenceRequest, now: number): boolean {
  return lostBecause(backend, s, req, now) === null;
}

/**
 * Why `s` cannot keep this session (P3, S4, S5), as a stable code, or null when it keeps it:
 * `excluded` (a failed connect), `disabled`, `draining`, `unhealthy`, `ejected` (see
 * `canKeepSession`; weight 0 keeps, S4), `at-limit` (at its `maxConnections`), `passive` (an
 * active server is available again, S5).
 * Reads the balancer with `peek` when it has one, so asking does not move a rotation.
 */
export function lostBecause(
  backend: PersistenceBackend,
  s: ServerRuntime,
  req: PersistenceRequest,
  now: number,
): string | null {
  if (s === req.exclude) return 'excluded';
  if (!s.canKeepSession(now)) {
    if (!s.spec.enabled) return 'disabled';
    if (s.draining) return 'draining';
    if (!s.healthOk) return 'unhealthy';
    return 'ejected';
  }
  // At its maxConnections (issue 15 point 4): the balancer picks a server with room, or the request waits.
  if (s.atLimit(now)) return 'at-limit';
  if (!s.spec.passive) return null;
  const b = backend.balancer;
  const ctx = { clientAddress: req.clientAddress };
  const other = b.peek ? b.peek(ctx) : b.pick(ctx);
  return !other || other.spec.passive ? null : 'passive';
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
