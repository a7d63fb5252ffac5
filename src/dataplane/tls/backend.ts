import net, { isIP } from 'node:net';
import tls from 'node:tls';
import type { Certificate } from '../../config/model.ts';
import type { BackendSpec, ServerSpec, Snapshot } from '../../config/snapshot.ts';
import type { Runtime } from '../../runtime/runtime.ts';
import type { ServerRuntime } from '../../runtime/server-runtime.ts';

/** Sessions kept per server endpoint for TLS resumption (bounded). */
const MAX_SESSIONS = 4096;

/**
 * Backend TLS (T2, T3): the client side of connections to servers. For a backend with
 * `tls.enabled`, a server without `sslOffload` is reached over TLS 1.2+ with:
 * - trust: the server's `caCertificateId`, else the backend's `tls.caCertificateId`, else the
 *   system CAs; verification on unless `tls.verify` is false;
 * - SNI: `tls.sni`, else the server's address when it is a host name (never an IP literal,
 *   RFC 6066 §3); the certificate is checked against that name, or the IP (its SANs);
 * - session resumption: the last session ticket per server endpoint.
 * Secure contexts are cached per CA certificate (id + fingerprint), so a handshake never
 * re-parses a bundle. One instance per process; `tlsOptionsFor` serves health checks.
 */
export class BackendTrust {
  #contexts = new Map<string, tls.SecureContext>();
  #sessions = new Map<string, Buffer>();

  /** Whether connections to `server` of `backend` use TLS (T2: not with SSL offload). */
  static usesTls(backend: BackendSpec, server: ServerSpec): boolean {
    return backend.tls.enabled && !server.sslOffload;
  }

  /** The CA certificate that applies to a server (the server's own overrides the backend's). */
  static caOf(backend: BackendSpec, server: ServerSpec, certificates: ReadonlyMap<string, Certificate>) {
    const id = server.caCertificateId ?? backend.tls.caCertificateId;
    return id === null ? undefined : certificates.get(id);
  }

  /** SNI for a server: `tls.sni`, else its host name or address unless an IP literal (RFC 6066 §3). */
  static serverName(backend: BackendSpec, server: ServerSpec): string | undefined {
    const sni = backend.tls.sni ?? server.host ?? server.address;
    return sni && isIP(sni) === 0 ? sni : undefined;
  }

  #context(ca: Certificate | undefined): tls.SecureContext {
    const key = ca === undefined ? '' : `${ca.id}\u0000${ca.fingerprintSha256}`;
    let ctx = this.#contexts.get(key);
    if (ctx === undefined) {
      ctx = tls.createSecureContext({
        minVersion: 'TLSv1.2',
        ...(ca === undefined ? {} : { ca: ca.certPem }),
      });
      if (this.#contexts.size > 256) this.#contexts.clear();
      this.#contexts.set(key, ctx);
    }
    return ctx;
  }

  /**
   * `tls.connect` options for a server (without host/port): trust, SNI, verification.
   * Used for health checks too (T3) so a check and a request trust the same certificates.
   */
  options(
    backend: BackendSpec,
    server: ServerSpec,
    certificates: ReadonlyMap<string, Certificate>,
  ): tls.ConnectionOptions {
    const servername = BackendTrust.serverName(backend, server);
    const o: tls.ConnectionOptions = {
      secureContext: this.#context(BackendTrust.caOf(backend, server, certificates)),
      rejectUnauthorized: backend.tls.verify,
      ALPNProtocols: ['http/1.1'],
    };
    if (servername !== undefined) o.servername = servername;
    else if (isIP(backend.tls.sni ?? server.address) !== 0) {
      // No SNI for an IP; check the certificate's IP SANs against the address.
      const ip = backend.tls.sni ?? server.address;
      o.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(ip, cert);
    }
    return o;
  }

  /**
   * Opens a TLS connection to a server of the runtime's current snapshot, or returns null
   * when the server is reached in plain TCP (TLS off, or SSL offload). Listen for
   * `secureConnect`. Keeps the session for resumption on the next connection.
   */
  connect(runtime: Runtime, rt: ServerRuntime, preamble: Buffer | null = null): tls.TLSSocket | null {
    const backend = rt.backend;
    const spec = rt.spec;
    if (!BackendTrust.usesTls(backend, spec)) return null;
    const certs = runtime.snapshot?.certificates ?? EMPTY;
    const opts = this.options(backend, spec, certs);
    const sessionKey = `${spec.id}\u0000${spec.endpoint}\u0000${opts.servername ?? ''}`;
    const session = this.#sessions.get(sessionKey);
    // a PROXY protocol header (issue 15 point 3) goes first, in clear, before the handshake
    let raw: net.Socket | undefined;
    if (preamble !== null) {
      raw = net.connect({ host: spec.address, port: spec.port, noDelay: true });
      raw.write(preamble);
    }
    const socket = tls.connect({
      ...opts,
      host: spec.address,
      port: spec.port,
      ...(raw !== undefined ? { socket: raw } : {}),
      ...(session !== undefined ? { session } : {}),
    });
    raw?.once('error', (err) => socket.destroy(err));
    socket.setNoDelay(true);
    socket.on('session', (s: Buffer) => {
      if (this.#sessions.size >= MAX_SESSIONS && !this.#sessions.has(sessionKey)) this.#sessions.clear();
      this.#sessions.set(sessionKey, s);
    });
    return socket;
  }

  /** A `tlsOptionsFor(backend, server)` for the health service (T3), reading the current snapshot's certificates. */
  healthOptions(
    getSnapshot: () => Snapshot | undefined,
  ): (backend: BackendSpec, server: ServerSpec) => tls.ConnectionOptions {
    return (backend, server) => this.options(backend, server, getSnapshot()?.certificates ?? EMPTY);
  }
}

const EMPTY: ReadonlyMap<string, Certificate> = new Map();

/** The process-wide backend trust used by the HTTP pool and TCP listeners. */
export const backendTrust = new BackendTrust();
