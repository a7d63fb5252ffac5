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

/** A small client of `/api/v1` with a bearer token. */
export class ApiClient {
  readonly url: string;
  #token: string;
  constructor(url: string, token: string) {
    this.url = url.replace(/\/+$/, '');
    this.#token = token;
  }
  /** Calls the API; answers the JSON body (undefined when empty or not JSON); throws ApiRefusal on 4xx/5xx. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
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
    throw new Error('no token: pass --token, set FULCRUM_TOKEN, or run where the data dir holds admin-token');
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

/** Exit codes of the API commands (SPEC C4): 0 success, 1 refused (or unreachable), 2 file error. */
export const ExitCode = { ok: 0, refused: 1, fileError: 2 } as const;

/** Where the commands write (console by default; tests capture). */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** The process's stdout and stderr. */
export const consoleOutput: Output = { out: (l) => console.log(l), err: (l) => console.error(l) };
