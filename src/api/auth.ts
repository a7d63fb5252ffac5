import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newId } from '../control/resources.ts';
import { FulcrumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ConfigStore, Role, TokenRecord } from '../store/types.ts';

/**
 * API authentication and roles (API.md "Starting it", "More of the contract").
 * - The admin token: `FULCRUM_ADMIN_TOKEN` when set, else generated at first start into
 *   `<dataDir>/admin-token` (mode 0600) and reused.
 * - Other tokens live in the store as SHA-256 of the secret; the secret is shown once.
 * - The console's HttpOnly `fulcrum_session` cookie maps to a token for 12 hours.
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

/**
 * Resolves the admin token: the environment variable when set, else the token file in the
 * data dir (created with mode 0600 at first start). Logs where it is kept.
 */
export function resolveAdminToken(dataDir: string, log: Logger, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.FULCRUM_ADMIN_TOKEN;
  if (fromEnv !== undefined && fromEnv.length > 0) {
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

/** Parses a Cookie header into name → value. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    out.set(part.slice(0, eq).trim(), decodeURIComponent(part.slice(eq + 1).trim()));
  }
  return out;
}

/** Token checks, token management and console sessions. */
export class AuthService {
  #adminHash: Buffer;
  #store: ConfigStore;
  #byHash = new Map<string, TokenRecord>();
  #byId = new Map<string, TokenRecord>();
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
    for (const t of await options.store.listTokens()) a.#remember(t);
    return a;
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

  /** The caller from `Authorization: Bearer …` or the session cookie; undefined when neither is valid. */
  authenticate(authorization: string | undefined, cookieHeader: string | undefined): Principal | undefined {
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      return m ? this.checkToken(m[1]!) : undefined;
    }
    const sid = parseCookies(cookieHeader).get(SESSION_COOKIE);
    return sid ? this.sessionPrincipal(sid) : undefined;
  }

  /** The principal of a live session (its token must still exist). */
  sessionPrincipal(sid: string): Principal | undefined {
    const s = this.#sessions.get(sid);
    if (!s) return undefined;
    if (s.expires <= this.#now()) {
      this.#sessions.delete(sid);
      return undefined;
    }
    if (s.tokenId === 'admin') return { tokenId: 'admin', name: 'admin', role: 'admin' };
    const t = this.#byId.get(s.tokenId);
    if (!t) {
      this.#sessions.delete(sid);
      return undefined;
    }
    return { tokenId: t.id, name: t.name, role: t.role };
  }

  /** Opens a console session for a principal; returns the cookie value. */
  openSession(p: Principal): string {
    const now = this.#now();
    for (const [id, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(id);
    const sid = randomBytes(32).toString('base64url');
    this.#sessions.set(sid, { tokenId: p.tokenId, expires: now + SESSION_TTL_MS });
    return sid;
  }

  /** Ends a session (idempotent). */
  closeSession(sid: string | undefined): void {
    if (sid) this.#sessions.delete(sid);
  }

  /** Creates a token; answers once with the secret. 409 for a duplicate name or the reserved name `admin`. */
  async createToken(
    name: string,
    role: Role,
  ): Promise<{ id: string; name: string; role: Role; token: string; createdAt: string }> {
    if (name === 'admin') throw new FulcrumError('conflict', 'name: "admin" is reserved for the admin token', 'name');
    if ([...this.#byId.values()].some((t) => t.name === name)) {
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
    return { id: rec.id, name, role, token, createdAt: rec.createdAt };
  }

  /** Tokens without their secrets. */
  listTokens(): { id: string; name: string; role: Role; createdAt: string }[] {
    return [...this.#byId.values()].map((t) => ({ id: t.id, name: t.name, role: t.role, createdAt: t.createdAt }));
  }

  /** Revokes a token and its sessions; 404 when unknown. */
  async deleteToken(id: string): Promise<{ id: string; name: string; role: Role; createdAt: string }> {
    const t = this.#byId.get(id);
    if (!t) throw new FulcrumError('not_found', `id: no token with id "${id}"`, 'id');
    await this.#store.deleteToken(id);
    this.#byId.delete(id);
    this.#byHash.delete(t.secretSha256);
    for (const [sid, s] of this.#sessions) if (s.tokenId === id) this.#sessions.delete(sid);
    return { id: t.id, name: t.name, role: t.role, createdAt: t.createdAt };
  }
}
