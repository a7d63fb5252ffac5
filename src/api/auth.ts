import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCookieHeader } from 'cookie';
import { checkName, sameName } from '../config/names.ts';
import { newId } from '../config/resources.ts';
import { FulcrumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ConfigStore, Role, TokenRecord } from '../store/types.ts';

/**
 * API authentication and roles (API.md "Starting it", "More of the contract").
 * - The admin token: `FULCRUM_ADMIN_TOKEN` when set, else generated at first start into
 *   `<dataDir>/admin-token` (mode 0600) and reused.
 * - Other tokens live in the store as SHA-256 of the secret; the secret is shown once.
 * - The console's HttpOnly `fulcrum_session` cookie maps to a token for 12 hours. Sessions
 *   live in the store (only the SHA-256 of the cookie), so every node sharing it knows them;
 *   they reload with the tokens (C5: a sign-in on one node works on the others, a sign-out
 *   or a revoked token ends the session everywhere within a second).
 * Secrets are compared as SHA-256 digests with `timingSafeEqual` (constant time).
 */

/** Who is calling: the token's id, name (the audit `actor`) and role. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `role` includes what `need` allows (admin ⊃ operator ⊃ viewer). */
export function roleAllows(role: Role, need: Role): boolean {
  return RANK[role] >= RANK[need];
}

/** Session lifetime (ms). */
export const SESSION_TTL_MS = 12 * 3600 * 1000;
/** Name of the console's session cookie. */
export const SESSION_COOKIE = 'fulcrum_session';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A new random secret (32 bytes, base64url) with a recognisable prefix. */
function newSecret(): string {
  return `ftk_${randomBytes(32).toString('base64url')}`;
}

/** Shortest admin token accepted from `FULCRUM_ADMIN_TOKEN` (characters); issue 10 point 4, ASVS V2. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * Resolves the admin token: the environment variable when set, else the token file in the
 * data dir (created with mode 0600 at first start). Logs where it is kept.
 * Throws when `FULCRUM_ADMIN_TOKEN` is shorter than 16 characters or holds whitespace or
 * control characters: a guessable admin token is refused at start.
 */
export function resolveAdminToken(dataDir: string, log: Logger, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.FULCRUM_ADMIN_TOKEN;
  if (fromEnv !== undefined && fromEnv.length > 0) {
    if (fromEnv.length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new Error(
        `FULCRUM_ADMIN_TOKEN: must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (it has ${fromEnv.length}); ` +
          'use a long random value, e.g. `openssl rand -base64 32`',
      );
    }
    if (!/^[\x21-\x7e]+$/.test(fromEnv)) {
      throw new Error('FULCRUM_ADMIN_TOKEN: must be printable ASCII without spaces (it is sent in a Bearer header)');
    }
    log.info('admin token taken from FULCRUM_ADMIN_TOKEN');
    return fromEnv;
  }
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length > 0) {
      log.info({ file }, `admin token kept in ${file}`);
      return token;
    }
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = newSecret();
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  log.info({ file }, `admin token generated into ${file} (mode 0600)`);
  return token;
}

/**
 * The value of one cookie in a Cookie header (RFC 6265 §5.4), through the `cookie` package:
 * a malformed header or a bad percent-escape never throws (the raw value is kept), so a
 * hostile cookie answers 401, never 500.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  return parseCookieHeader(header)[name];
}

/**
 * What the credentials of a request amount to:
 * - `none`: neither a Bearer header nor a session cookie (a plain 401, not counted);
 * - `failed`: a Bearer token (or an `Authorization` header of another form) was presented and
 *   is wrong — counted against the client by the failed-authentication limit;
 * - `expired`: a session cookie that is unknown or expired (a console left open across a
 *   restart); 401, not counted;
 * - `ok`: the principal, and whether it came from the Bearer header or the session cookie
 *   (the browser's), which decides the Origin check of state-changing requests.
 */
export type Authentication =
  | { kind: 'none' }
  | { kind: 'failed' }
  | { kind: 'expired' }
  | { kind: 'ok'; principal: Principal; via: 'bearer' | 'session' };

/** Token checks, token management and console sessions. */
export class AuthService {
  #adminHash: Buffer;
  #store: ConfigStore;
  #byHash = new Map<string, TokenRecord>();
  #byId = new Map<string, TokenRecord>();
  /** Live console sessions by the hex SHA-256 of the cookie value (as the store keeps them). */
  #sessions = new Map<string, { tokenId: string; expires: number }>();
  #now: () => number;

  private constructor(adminToken: string, store: ConfigStore, now: () => number) {
    this.#adminHash = sha256(adminToken);
    this.#store = store;
    this.#now = now;
  }

  /** Builds the service with the admin token and the stored tokens. */
  static async create(options: { adminToken: string; store: ConfigStore; now?: () => number }): Promise<AuthService> {
    const a = new AuthService(options.adminToken, options.store, options.now ?? Date.now);
    await a.reload();
    return a;
  }

  /**
   * Reloads the tokens and the console sessions from the store (C5: a token created or
   * revoked, a sign-in or sign-out on another node). A revoked token stops working at once,
   * and its console sessions with it.
   */
  async reload(): Promise<void> {
    const tokens = await this.#store.listTokens();
    const sessions = await this.#store.listSessions(this.#now());
    this.#byHash.clear();
    this.#byId.clear();
    for (const t of tokens) this.#remember(t);
    this.#sessions = new Map(sessions.map((x) => [x.idSha256, { tokenId: x.tokenId, expires: x.expiresAt }]));
  }

  #remember(t: TokenRecord): void {
    this.#byHash.set(t.secretSha256, t);
    this.#byId.set(t.id, t);
  }

  /** The principal for a secret, or undefined. Constant-time against the admin token. */
  checkToken(secret: string): Principal | undefined {
    const h = sha256(secret);
    if (timingSafeEqual(h, this.#adminHash)) return { tokenId: 'admin', name: 'admin', role: 'admin' };
    const t = this.#byHash.get(h.toString('hex'));
    if (!t) return undefined;
    // The map lookup found it by digest; confirm in constant time all the same.
    if (!timingSafeEqual(h, Buffer.from(t.secretSha256, 'hex'))) return undefined;
    return { tokenId: t.id, name: t.name, role: t.role };
  }

  /**
   * The caller from `Authorization: Bearer …` (which wins when present) or the console's
   * session cookie. Never throws, whatever the headers hold.
   */
  authenticate(authorization: string | undefined, cookieHeader: string | undefined): Authentication {
    if (authorization !== undefined) {
      const m = /^Bearer +([\x21-\x7e]{1,512}) *$/i.exec(authorization);
      const p = m ? this.checkToken(m[1]!) : undefined;
      return p ? { kind: 'ok', principal: p, via: 'bearer' } : { kind: 'failed' };
    }
    const sid = cookieValue(cookieHeader, SESSION_COOKIE);
    if (sid === undefined) return { kind: 'none' };
    const p = sid.length > 0 && sid.length <= 128 ? this.sessionPrincipal(sid) : undefined;
    return p ? { kind: 'ok', principal: p, via: 'session' } : { kind: 'expired' };
  }

  /** The principal of a live session (its token must still exist). */
  sessionPrincipal(sid: string): Principal | undefined {
    const key = sha256(sid).toString('hex');
    const s = this.#sessions.get(key);
    if (!s) return undefined;
    if (s.expires <= this.#now()) {
      this.#sessions.delete(key);
      return undefined;
    }
    if (s.tokenId === 'admin') return { tokenId: 'admin', name: 'admin', role: 'admin' };
    const t = this.#byId.get(s.tokenId);
    if (!t) {
      this.#sessions.delete(key);
      return undefined;
    }
    return { tokenId: t.id, name: t.name, role: t.role };
  }

  /**
   * Opens a console session for a principal and audits the sign-in (C6: actor = the token's
   * name, never the secret); returns the cookie value.
   */
  async openSession(p: Principal, client?: string): Promise<string> {
    const now = this.#now();
    for (const [id, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(id);
    const sid = randomBytes(32).toString('base64url');
    const session = { idSha256: sha256(sid).toString('hex'), tokenId: p.tokenId, expiresAt: now + SESSION_TTL_MS };
    await this.#store.createSession(session, now);
    this.#sessions.set(session.idSha256, { tokenId: p.tokenId, expires: session.expiresAt });
    await this.#audit(p.name, 'sign-in', 'session', undefined, { token: p.name, role: p.role, client });
    return sid;
  }

  /** Ends a session on every node (idempotent) and audits the sign-out when the session was live. */
  async closeSession(sid: string | undefined, client?: string): Promise<void> {
    if (!sid) return;
    const p = this.sessionPrincipal(sid);
    const key = sha256(sid).toString('hex');
    this.#sessions.delete(key);
    await this.#store.deleteSession(key);
    if (p) await this.#audit(p.name, 'sign-out', 'session', { token: p.name, role: p.role, client }, undefined);
  }

  #audit(actor: string, action: string, resource: string, before: unknown, after: unknown): Promise<void> {
    return this.#store.appendAudit({ at: new Date(this.#now()).toISOString(), actor, action, resource, before, after });
  }

  /**
   * Creates a token and audits it (actor = the caller's token name; the secret never reaches
   * the audit); answers once with the secret. The name follows the one name rule (config/names.ts:
   * stored in NFC; 400 for control, bidi or zero-width characters, surrounding whitespace or `/`);
   * 409 for a duplicate name (NFC forms compared) or the reserved name `admin`.
   */
  async createToken(
    actor: string,
    rawName: string,
    role: Role,
  ): Promise<{ id: string; name: string; role: Role; token: string; createdAt: string }> {
    const name = checkName(rawName, 'name');
    if (name === 'admin') throw new FulcrumError('conflict', 'name: "admin" is reserved for the admin token', 'name');
    if ([...this.#byId.values()].some((t) => sameName(t.name, name))) {
      throw new FulcrumError('conflict', `name: a token named "${name}" already exists`, 'name');
    }
    const token = newSecret();
    const rec: TokenRecord = {
      id: newId('tok'),
      name,
      role,
      secretSha256: sha256(token).toString('hex'),
      createdAt: new Date(this.#now()).toISOString(),
    };
    await this.#store.createToken(rec);
    this.#remember(rec);
    const view = { id: rec.id, name, role, createdAt: rec.createdAt };
    await this.#audit(actor, 'create', `token/${rec.id}`, undefined, view);
    return { ...view, token };
  }

  /** Tokens without their secrets. */
  listTokens(): { id: string; name: string; role: Role; createdAt: string }[] {
    return [...this.#byId.values()].map((t) => ({ id: t.id, name: t.name, role: t.role, createdAt: t.createdAt }));
  }

  /** Revokes a token and its sessions, and audits it; 404 when unknown. */
  async deleteToken(actor: string, id: string): Promise<{ id: string; name: string; role: Role; createdAt: string }> {
    const t = this.#byId.get(id);
    if (!t) throw new FulcrumError('not_found', `id: no token with id "${id}"`, 'id');
    await this.#store.deleteToken(id);
    this.#byId.delete(id);
    this.#byHash.delete(t.secretSha256);
    for (const [sid, s] of this.#sessions) if (s.tokenId === id) this.#sessions.delete(sid);
    const view = { id: t.id, name: t.name, role: t.role, createdAt: t.createdAt };
    await this.#audit(actor, 'delete', `token/${t.id}`, view, undefined);
    return view;
  }
}
