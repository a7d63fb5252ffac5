import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';

/**
 * Structured access logs (SPEC O2): one JSON line per HTTP request, TCP connection and UDP flow.
 * Off unless `fulcrum serve --access-log PATH|-` is given, so the hot path pays only a
 * `undefined` check when it is off. Lines are buffered and written asynchronously
 * (sonic-boom, the writer under pino).
 */
export interface AccessLog {
  /** Writes one record as a JSON line. Never throws. */
  write(record: AccessRecord): void;
  /** Writes lines already formatted (newline-terminated JSON lines a worker thread sent). Never throws. */
  writeLines(text: string): void;
  /** Flushes what is buffered and closes the destination. */
  close(): void;
}

/** One access-log record. Times are ISO 8601; durations in ms; sizes in bytes. */
export interface AccessRecord {
  at: string;
  /** `http` (one request), `tcp` (one connection) or `udp` (one flow). */
  kind: 'http' | 'tcp' | 'udp';
  /** HTTP: the client's protocol, `http/1.1` or `h2`. */
  protocol?: string;
  frontend: string;
  client: string;
  backend: string | null;
  server: string | null;
  /** HTTP: status sent to the client (0 when the client went away before an answer). */
  status?: number;
  method?: string | null;
  target?: string | null;
  host?: string | null;
  /** Bytes sent to the client. */
  bytesOut: number;
  /** Bytes received from the client (tcp). */
  bytesIn?: number;
  durationMs: number;
  /** Set when the exchange ended without a complete answer (client gone, cut by a drain, timeout). */
  aborted?: boolean;
  /** Why it ended other than normally (runtime/terminations.ts: `client-aborted`, `connect-refused`, …). */
  termination?: string;
  /** HTTP: attempts on other servers before the answer (issue 12 §3). */
  retries?: number;
  /** With `--workers N` above 1: the worker thread (0 … N−1) that served it (issue 13 point 1). */
  worker?: number;
}

/**
 * Opens an access log at `dest`: a file path (created, appended to) or `-` for standard
 * output. Throws Error when the file cannot be opened.
 */
export function createAccessLog(dest: string): AccessLog {
  if (dest !== '-') {
    // Fail now, with the path in the message, rather than in an asynchronous open later.
    mkdirSync(path.dirname(path.resolve(dest)), { recursive: true });
    closeSync(openSync(dest, 'a'));
  }
  const out = pino.destination({ dest: dest === '-' ? 1 : dest, sync: false, append: true });
  out.on('error', () => {
    // a full disk or closed pipe must not take the proxy down
  });
  return {
    write(record) {
      try {
        out.write(`${JSON.stringify(record)}\n`);
      } catch {
        // a full disk or closed pipe must not take the proxy down
      }
    },
    writeLines(text) {
      try {
        out.write(text);
      } catch {
        // a full disk or closed pipe must not take the proxy down
      }
    },
    close() {
      try {
        out.flushSync();
      } catch {
        // nothing buffered, or the destination is gone
      }
      out.end();
    },
  };
}
