import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { MAX_ANSWER_BYTES, probeConnect, reasonOfError } from './probe-socket.ts';
import type { HealthCheck, ProbeResult, ProbeTarget, ReasonCode } from './types.ts';

/**
 * `http` and `https` checks (H1, H3): one request per probe on a fresh connection
 * (`Connection: close`), with the configured method, path and optional Host header. Healthy
 * when the status matches the expected codes (default 2xx–3xx) and, when `expectBody` is
 * set, the first 64 KiB of the body contain the text or match the pattern. https verifies the
 * server certificate with the backend's TLS options (T3); a failure is `tls-untrusted`.
 */
export const httpCheck: HealthCheck = {
  type: 'http',
  probe: (target, signal) => probeHttp(target, signal, false),
};

/** See httpCheck; TLS with `target.tls` (CA, SNI, verify). */
export const httpsCheck: HealthCheck = {
  type: 'https',
  probe: (target, signal) => probeHttp(target, signal, true),
};

function probeHttp(target: ProbeTarget, signal: AbortSignal, secure: boolean): Promise<ProbeResult> {
  const t0 = performance.now();
  const h = target.http;
  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    let req: ClientRequest | undefined;
    let res: IncomingMessage | undefined;
    const finish = (ok: boolean, reason: ReasonCode, message: string): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      res?.destroy();
      req?.destroy();
      resolve({ ok, reason, message, latencyMs: Math.round(performance.now() - t0) });
    };
    const onAbort = (): void => finish(false, 'timeout', `no complete answer within ${target.timeoutMs} ms`);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    if (!h) return finish(false, 'protocol-error', 'http check without http settings');
    const headers: Record<string, string> = { connection: 'close', 'user-agent': 'fulcrum-health-check' };
    if (h.host) headers.host = h.host;
    const options = {
      host: target.address,
      port: target.port,
      method: h.method,
      path: h.path,
      headers,
      agent: false as const,
      ...(secure ? target.tls : undefined),
      // issue 15 point 3: a PROXY header first on the check's connection
      // (without an agent: Node uses `createConnection` only then)
      ...(target.proxyHeader !== undefined
        ? { agent: undefined, createConnection: () => probeConnect(target, secure) }
        : {}),
    };
    try {
      req = (secure ? httpsRequest : httpRequest)(options);
    } catch (err) {
      return finish(false, 'protocol-error', (err as Error).message);
    }
    req.on('error', (err) => {
      const r = reasonOfError(err);
      finish(false, r.reason, r.message);
    });
    req.on('response', (response) => {
      res = response;
      const status = response.statusCode ?? 0;
      if (!h.codes(status)) {
        return finish(false, 'response-code-mismatch', `status ${status} ${response.statusMessage ?? ''}`.trim());
      }
      const body = h.body;
      if (!body) return finish(true, 'ok', `status ${status}`);
      const chunks: Buffer[] = [];
      let size = 0;
      const decide = (): void => {
        const text = Buffer.concat(chunks, size).toString('utf8', 0, Math.min(size, MAX_ANSWER_BYTES));
        if (body(text)) finish(true, 'ok', `status ${status}, body matched`);
        else finish(false, 'body-mismatch', `status ${status}, body does not contain the expected text`);
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_ANSWER_BYTES) decide();
      });
      response.on('end', decide);
      response.on('error', (err) => {
        const r = reasonOfError(err);
        finish(false, r.reason, r.message);
      });
    });
    req.end();
  });
}
