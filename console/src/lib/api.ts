/**
 * The console's only way to the control plane: the public `/api/v1` (API.md), authenticated
 * by the HttpOnly `fulcrum_session` cookie that `POST /api/v1/session` sets. The token is
 * never stored by the console (not in localStorage, not in memory after sign-in).
 */

/** A refused request: API.md `{ error: { code, message, field } }` plus the HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** The request field the error is about (e.g. `port`), or null when it is about the whole request. */
  readonly field: string | null;
  /** 412 `precondition_failed`: the version the resource is at now (null when it was deleted). */
  currentVersion: number | null | undefined;
  /** Every problem of the request (`error.details`: `field`, `rule`, `message`, `index` for a batch item). */
  details: { field?: string; rule?: string; message?: string; index?: number }[] = [];
  constructor(status: number, code: string, message: string, field: string | null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** The part of `fetch` the client uses, so unit tests can pass a real local server's fetch. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** A change's answer split into the resource and the configuration version it is live in (S2). */
export interface ChangeResult<T> {
  resource: T;
  /** null when the answer carried none (e.g. DELETE with 204). */
  configVersion: number | null;
}

/**
 * Builds an ApiError from a response body of any shape. Accepts API.md's
 * `{ error: { code, message, field } }`, Fastify's `{ statusCode, code, message }` and text.
 * `field` may come as `"/port"` or `"body.port"` (JSON Schema paths): it is reduced to a
 * dotted field name (`port`, `healthCheck.intervalSeconds`).
 */
export function toApiError(status: number, body: unknown): ApiError {
  let code = `http_${status}`;
  let message = status === 401 ? 'Not signed in or the session has expired' : `Request failed (HTTP ${status})`;
  let field: string | null = null;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const e = (b.error && typeof b.error === 'object' ? b.error : b) as Record<string, unknown>;
    if (typeof e.code === 'string' && e.code) code = e.code;
    if (typeof e.message === 'string' && e.message) message = e.message;
    if (typeof e.field === 'string' && e.field) field = normaliseField(e.field);
  } else if (typeof body === 'string' && body.trim()) {
    message = body.trim().slice(0, 300);
  }
  const err = new ApiError(status, code, message, field);
  if (body && typeof body === 'object') {
    const e = (body as { error?: { currentVersion?: unknown } }).error;
    if (e && (typeof e.currentVersion === 'number' || e.currentVersion === null)) err.currentVersion = e.currentVersion;
    const details = (e as { details?: unknown } | undefined)?.details;
    if (Array.isArray(details)) err.details = details.filter((d) => d && typeof d === 'object');
  }
  return err;
}

/** `/healthCheck/port`, `body.healthCheck.port`, `healthCheck[port]` → `healthCheck.port`. */
export function normaliseField(field: string): string {
  return field
    .replace(/^\/+/, '')
    .replace(/^body[./]/, '')
    .replace(/\[(\w+)\]/g, '.$1')
    .replace(/\//g, '.')
    .replace(/^\.+|\.+$/g, '');
}

/**
 * Splits a change's answer into resource and configVersion. API.md says a change "answers
 * with the resource and configVersion"; both `{ ...resource, configVersion }` and
 * `{ <kind>: resource, configVersion }` are accepted.
 */
export function splitChange<T>(body: unknown): ChangeResult<T> {
  if (!body || typeof body !== 'object') return { resource: body as T, configVersion: null };
  const { configVersion, ...rest } = body as Record<string, unknown>;
  const version = typeof configVersion === 'number' ? configVersion : null;
  const keys = Object.keys(rest);
  if (keys.length === 1) {
    const only = rest[keys[0] as string];
    if (only && typeof only === 'object' && !Array.isArray(only) && 'id' in only) {
      return { resource: only as T, configVersion: version };
    }
  }
  return { resource: rest as T, configVersion: version };
}

/** Lists come either as a bare array or wrapped (`{ items: [...] }`, `{ servers: [...] }`); returns the array. */
export function unwrapList<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === 'object') {
    for (const v of Object.values(body as Record<string, unknown>)) if (Array.isArray(v)) return v as T[];
  }
  return [];
}

/** Options of a request. */
export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Sends `If-Match: "<version>"`: the change goes through only while the resource is at it (else 412). */
  ifMatch?: number;
}

/**
 * A small JSON client for `/api/v1`. Sends the session cookie (same origin), never a token
 * except in `signIn`. Throws ApiError for every non-2xx answer; `onUnauthorized` is called
 * on 401 so the app can show the sign-in page.
 */
export class Api {
  readonly base: string;
  #fetch: FetchLike;
  onUnauthorized: (() => void) | null = null;

  constructor(base = '/api/v1', fetchImpl?: FetchLike) {
    this.base = base.replace(/\/$/, '');
    this.#fetch = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Sends one request; resolves with the parsed JSON body (undefined for 204). */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const init: RequestInit = { method, headers, credentials: 'same-origin' };
    if (opts.signal) init.signal = opts.signal;
    if (opts.ifMatch !== undefined) headers['if-match'] = `"${opts.ifMatch}"`;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    const res = await this.#fetch(this.base + path, init);
    const text = await res.text();
    let parsed: unknown;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!res.ok) {
      if (res.status === 401 && !path.startsWith('/session')) this.onUnauthorized?.();
      throw toApiError(res.status, parsed);
    }
    return parsed as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, signal ? { signal } : {});
  }

  /** GET of a list, whatever its wrapping. */
  async list<T>(path: string, signal?: AbortSignal): Promise<T[]> {
    return unwrapList<T>(await this.get<unknown>(path, signal));
  }

  /** A change (POST, PATCH, DELETE) answered with the resource and configVersion; `ifMatch` sends If-Match. */
  async change<T>(
    method: 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    ifMatch?: number,
  ): Promise<ChangeResult<T>> {
    const opts: RequestOptions = body === undefined ? {} : { body };
    if (ifMatch !== undefined) opts.ifMatch = ifMatch;
    return splitChange<T>(await this.request<unknown>(method, path, opts));
  }

  /**
   * Exchanges the API token for the HttpOnly session cookie; resolves with the answer
   * (`{ name, role, expiresAt }`). Throws ApiError (401) for a wrong token.
   */
  signIn(token: string): Promise<unknown> {
    return this.request<unknown>('POST', '/session', { body: { token } });
  }

  /** Ends the session (the cookie is cleared by the API). */
  async signOut(): Promise<void> {
    await this.request('DELETE', '/session');
  }
}

/** `?a=1&b=x` from an object, skipping empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
