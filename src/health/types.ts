import type { ConnectionOptions } from 'node:tls';
import type { HealthCheck as HealthCheckSettings, HealthCheckType } from '../config/model.ts';

/**
 * Stable reason codes of health checks and of a server being out of rotation (issue
 * "Health checks" point 4, H6). The API, the console and events show these strings; never
 * rename one.
 *
 * - `ok`                      the last check passed.
 * - `initial-check`           checks are enabled and the server has not yet passed `rise` checks (H4).
 * - `failed-checks`           unhealthy after `fall` failures whose probe gave no more specific code.
 * - `response-code-mismatch`  http/https: the status is not among the expected codes (H3).
 * - `body-mismatch`           http/https: the first 64 KiB of the body lack the expected text or pattern.
 * - `timeout`                 no complete answer within `timeoutSeconds`.
 * - `connection-refused`      TCP RST on connect, or ICMP port unreachable for udp.
 * - `connection-error`        other socket errors (reset, host unreachable, …).
 * - `tls-untrusted`           the server's certificate does not verify against the backend's CA / SNI (T3).
 * - `protocol-error`          the server answered something that is not the expected protocol (garbage,
 *                             early close, a TLS handshake failure that is not about trust).
 * - `auth-failed`             mysql access denied, postgres authentication error, redis NOAUTH.
 * - `server-error`            the server speaks the protocol but reports it cannot serve (postgres FATAL such as
 *                             an unknown database, redis LOADING, a mysql error other than access denied).
 * - `disabled`, `draining`, `ejected`  admin or passive-health reasons (S3, H7), see `outOfRotationReason`.
 */
export const ReasonCodes = [
  'ok',
  'initial-check',
  'failed-checks',
  'response-code-mismatch',
  'body-mismatch',
  'timeout',
  'connection-refused',
  'connection-error',
  'tls-untrusted',
  'protocol-error',
  'auth-failed',
  'server-error',
  'disabled',
  'draining',
  'ejected',
] as const;
export type ReasonCode = (typeof ReasonCodes)[number];

/** Outcome of one probe. `latencyMs`: time from start to the decision, in milliseconds. */
export interface ProbeResult {
  ok: boolean;
  /** Stable code (see ReasonCodes); `ok` on success. */
  reason: ReasonCode;
  /** Human text: the server's own error message when it sent one, else a short description. */
  message: string;
  latencyMs: number;
}

/** Decides whether an HTTP status is healthy (H3). */
export type CodeMatcher = (status: number) => boolean;

/** Decides whether a (bounded) response body is healthy. */
export type BodyMatcher = (body: string) => boolean;

/**
 * Everything a probe needs, resolved once per configuration change (never per probe):
 * the address and port to probe (H2: the check port or the server's port), the backend's
 * check settings, compiled matchers and TLS options.
 */
export interface ProbeTarget {
  readonly address: string;
  readonly port: number;
  /** The backend's health check settings. */
  readonly settings: Readonly<HealthCheckSettings>;
  /** Timeout of one probe in milliseconds (`timeoutSeconds` × 1000); the scheduler aborts `signal` then. */
  readonly timeoutMs: number;
  /** https / tls checks: options for `tls.connect` (CA, SNI, rejectUnauthorized). */
  readonly tls?: ConnectionOptions;
  /** http / https: compiled once. */
  readonly http?: {
    readonly method: string;
    readonly path: string;
    readonly host: string | undefined;
    readonly codes: CodeMatcher;
    readonly body: BodyMatcher | undefined;
  };
  /** PROXY protocol (issue 15 point 3): the header sent first (v1 UNKNOWN / v2 LOCAL), when the check asks for it. */
  readonly proxyHeader?: Buffer;
  /** udp: the payload to send and the bytes the reply must contain (empty = any reply). */
  readonly udp?: { readonly send: Buffer; readonly expect: Buffer | undefined };
}

/**
 * One health check type (H1), a pure probe: timing and thresholds live in the scheduler.
 * `probe` never rejects: every failure is a ProbeResult with ok false and a reason. When
 * `signal` aborts (timeout or stop) it resolves promptly with reason `timeout` and releases
 * its socket. The scheduler reuses a signal across probes until it aborts, so a probe must
 * remove any listener it added to `signal` when it finishes.
 */
export interface HealthCheck {
  readonly type: HealthCheckType;
  probe(target: ProbeTarget, signal: AbortSignal): Promise<ProbeResult>;
}
