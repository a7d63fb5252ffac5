import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The ONE HTTP client of the REST API (DESIGN.md "Layout", cli/): every `fulcrum` command
 * that talks to a running Fulcrum (`get`, `server …`, `apply`, `export`) sends its requests
 * here, with the URL and token resolved the same way, and turns a refusal into one line that
 * names the field and the rule.
 */

/** One problem of a refused request, as the API lists them in `error.details`. */
export interface RefusalDetail {
  field?: string;
  rule?: string;
  message?: string;
}

/** A refusal answered by the API: its status and `{ error: { code, message, field, details? } }`. */
export class ApiRefusal extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly details: RefusalDetail[] | undefined;
  constructor(status: number, code: string, message: string, field?: string, details?: RefusalDetail[]) {
    super(message);
    this.name = 'ApiRefusal';
    this.status = status;
    this.code = code;
    this.field = field;
    this.details = details;
  }
}

/** The API could not be reached at all (connection refused, name not resolved, TLS, timeout). */
export class ApiUnreachable extends Error {
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`cannot reach the API at ${url}: ${reasonOf(cause)}`);
    this.name = 'ApiUnreachable';
    this.url = url;
  }
}

/** A bad command line: an argument, a flag or a missing token (exit 2, like commander's usage errors). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A name (or path of names) that matches no resource, or several (exit 4). */
export class NameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NameError';
  }
}

/** Why fetch failed, in a few words: the system error code of its cause when there is one. */
function reasonOf(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer within the timeout';
  const c = e?.cause;
  if (c?.code) return !c.message ? c.code : c.message.includes(c.code) ? c.message : `${c.code} (${c.message})`;
  return c?.message ?? e?.message ?? String(err);
}

/** How long one API call may take before the API counts as unreachable (ms). */
const CALL_TIMEOUT_MS = 30_000;

/** A small client of `/api/v1` with a bearer token. */
export class ApiClient {
  readonly url: string;
  #token: string;
  constructor(url: string, token: string) {
    this.url = url.replace(/\/+$/, '');
    this.#token = token;
  }
  /**
   * Calls the API; answers the JSON body (undefined when empty or not JSON); throws ApiRefusal on
   * 4xx/5xx. `headers` adds header fields (e.g. `if-match`, issue 15 point 6).
   */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let r: Response;
    let text: string;
    try {
      r = await fetch(`${this.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      text = await r.text();
    } catch (err) {
      throw new ApiUnreachable(this.url, err);
    }
    return this.#answer<T>(r, text);
  }

  /**
   * Opens a streaming GET (Server-Sent Events: `/events/stream`); answers the response, whose
   * body the caller reads. Throws ApiRefusal on 4xx/5xx, ApiUnreachable when no answer comes.
   */
  async stream(path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    let r: Response;
    try {
      r = await fetch(`${this.url}/api/v1${path}`, {
        headers: { authorization: `Bearer ${this.#token}`, accept: 'text/event-stream', ...headers },
        signal,
      });
    } catch (err) {
      throw new ApiUnreachable(this.url, err);
    }
    if (!r.ok) this.#answer(r, await r.text().catch(() => ''));
    return r;
  }

  /** The JSON body of an answer; throws ApiRefusal when it is a 4xx/5xx. */
  #answer<T>(r: Response, text: string): T {
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!r.ok) {
      const e = (
        json as { error?: { code?: string; message?: string; field?: string; details?: RefusalDetail[] } } | undefined
      )?.error;
      throw new ApiRefusal(
        r.status,
        e?.code ?? 'error',
        e?.message ?? (text || r.statusText),
        e?.field,
        Array.isArray(e?.details) ? e.details : undefined,
      );
    }
    return json as T;
  }
}

/** Where the CLI's API commands send requests, and with which token (the common flags). */
export interface ClientFlags {
  url: string;
  token?: string;
  dataDir: string;
}

/**
 * The token of an API command: `--token`, else FULCRUM_TOKEN, else FULCRUM_ADMIN_TOKEN, else
 * `<data-dir>/admin-token`. Throws Error saying how to give one.
 */
export function resolveToken(flags: ClientFlags): string {
  if (flags.token) return flags.token;
  if (process.env.FULCRUM_TOKEN) return process.env.FULCRUM_TOKEN;
  if (process.env.FULCRUM_ADMIN_TOKEN) return process.env.FULCRUM_ADMIN_TOKEN;
  try {
    return readFileSync(path.join(flags.dataDir, 'admin-token'), 'utf8').trim();
  } catch {
    throw new UsageError('no token: pass --token, set FULCRUM_TOKEN, or run where the data dir holds admin-token');
  }
}

/** The client for a command's flags (URL and token resolved). */
export function clientFor(flags: ClientFlags): ApiClient {
  return new ApiClient(flags.url, resolveToken(flags));
}

/** The messages of every problem listed in `details`, `field: rule` each. */
function detailMessages(details: readonly RefusalDetail[]): string[] {
  return details.map((d) => d.message ?? (d.field ? `${d.field}: ${d.rule ?? ''}` : (d.rule ?? '')));
}

/**
 * A refusal as one line: `STATUS CODE: field: rule` for the API's answers, `CODE: field: rule`
 * for a local check (FulcrumError), the message for anything else. When the refusal lists
 * several problems (`details`), all of them, separated by `; `.
 */
export function refusalText(err: Error): string {
  const details = (err as { details?: unknown }).details;
  const message = Array.isArray(details) && details.length > 1 ? detailMessages(details).join('; ') : err.message;
  if (err instanceof ApiRefusal) return `${err.status} ${err.code}: ${message}`;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${message}` : message;
}

/**
 * Exit codes of every command (SPEC C4, README "CLI"): 0 success, 1 the API refused (4xx/5xx),
 * 2 usage or file error (bad flag or argument, no token, unreadable or invalid file), 3 the
 * API cannot be reached, 4 a name matches no resource or several.
 */
export const ExitCode = { ok: 0, refused: 1, usage: 2, fileError: 2, unreachable: 3, name: 4 } as const;

/** The exit code for an error thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ApiUnreachable) return ExitCode.unreachable;
  if (err instanceof UsageError) return ExitCode.usage;
  if (err instanceof NameError) return ExitCode.name;
  return ExitCode.refused;
}

/** Where the commands write (console by default; tests capture). */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** The process's stdout and stderr. */
export const consoleOutput: Output = { out: (l) => console.log(l), err: (l) => console.error(l) };
