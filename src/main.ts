import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApi } from './api/app.ts';
import { AuthService, resolveAdminToken } from './api/auth.ts';
import { isLoopbackName } from './api/browser-guard.ts';
import { certificateRoutes } from './api/routes-certificates.ts';
import { registerExplainRoutes } from './api/routes-explain.ts';
import { createBalancer } from './balancer/registry.ts';
import { loadSealedSecret, loadSecretKey } from './certificates/secret.ts';
import { type ApiEndpoint, addressGuard, parseNetworkList } from './config/address-guard.ts';
import { MAX_WORKERS } from './config/defaults.ts';
import type { Snapshot } from './config/snapshot.ts';
import { ControlPlane } from './control/control-plane.ts';
import type { DataPlanePort } from './control/ports.ts';
import { realClock } from './core/clock.ts';
import { createLogger, type Logger } from './core/log.ts';
import { parseHostPort } from './core/net.ts';
import { type AccessLog, createAccessLog } from './dataplane/access-log.ts';
import { createExplainer } from './dataplane/explain.ts';
import { listenerFactories } from './dataplane/factories.ts';
import { Plane } from './dataplane/plane.ts';
import { backendTrust } from './dataplane/tls/backend.ts';
import { HealthService } from './health/service.ts';
import { PersistenceManager } from './persistence/choose.ts';
import { DnsResolution } from './runtime/dns.ts';
import type { FrontendRuntime, ListenerStatus } from './runtime/frontend-runtime.ts';
import { Runtime } from './runtime/runtime.ts';
import { SharedCells } from './runtime/shared-cells.ts';
import { applyConfigFile } from './start-config.ts';
import { openStore, parseStoreUrl } from './store/open.ts';
import { WorkerPool } from './workers/pool.ts';

/** Where the built web console lives (served at `/` when present). */
export const CONSOLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../console/dist');

/** Options of `startFulcrum` (API.md "Starting it"). */
export interface StartOptions {
  /** `HOST:PORT` of the API and console (default `127.0.0.1:8080`; port 0 = any free port). */
  api?: string;
  /** Data directory: SQLite store, admin token, secrets (default `./data`). */
  dataDir?: string;
  /**
   * `--store URL` (API.md "More of the contract", C5): `sqlite:PATH` (default
   * `<dataDir>/fulcrum.db`) or `postgres://user@host:port/db`, a store several nodes share.
   * A PostgreSQL store needs FULCRUM_SECRET_KEY, the same on every node.
   */
  store?: string;
  /** How often this node catches up with the store and sends its heartbeat (ms, default 2000). */
  syncIntervalMs?: number;
  /**
   * `--reuse-port`: frontends (http, https, tcp, udp) bind with SO_REUSEPORT, so several nodes
   * on one machine share a frontend's address and port (the kernel spreads connections and
   * udp flows). Default off.
   */
  reusePort?: boolean;
  /** The admin token; default FULCRUM_ADMIN_TOKEN, else generated into the data dir. */
  adminToken?: string;
  /** pino level (default FULCRUM_LOG_LEVEL or `info`). */
  logLevel?: string;
  /** Serve the web console: true = the built `console/dist`, a string = that folder, false = not. Default true. */
  console?: boolean | string;
  /** `--node-name`: this node's name in `GET /nodes` (default: the host name). */
  nodeName?: string;
  /** Environment read for FULCRUM_SECRET_KEY (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * A declarative configuration file (YAML or JSON, API.md appendix) applied through the
   * control plane after the stored configuration is restored and before the API answers
   * (create and update, no prune; one configVersion). A bad file stops the start (C4).
   */
  configFile?: string;
  /** Access log destination (O2): a file path, or `-` for standard output; off when unset. */
  accessLog?: string;
  /**
   * `--allow-backend-networks`: CIDRs (IPv4 or IPv6) whose addresses may be servers and
   * instances although the address guard refuses them otherwise (link-local, metadata,
   * multicast…; config/address-guard.ts). Never settable through the API. A bad CIDR stops the start.
   */
  allowBackendNetworks?: readonly string[];
  /** `--resolver IP:port`: the DNS server for servers' host names (default: the system's; src/runtime/dns.ts). */
  resolver?: string;
  /** How long a host name's last good address is kept while the resolver fails (ms; default 300 s). */
  dnsHoldMs?: number;
  /** Failed authentications allowed per client address per minute before 429 (default 20). */
  authFailuresPerMinute?: number;
  /** PEM files of a certificate chain and its key: the API and console are served over HTTPS. */
  apiCert?: string;
  apiKey?: string;
  /**
   * `--workers N` (issue 13 point 1): N worker threads each accept on every frontend
   * (SO_REUSEPORT) while this thread keeps the control plane, the store, health checks and
   * the events; 1 (the default here; the CLI's default is the number of cores) runs the data
   * plane in this thread as before.
   */
  workers?: number;
}

/** What tests and the API read of the data plane, whichever runs it (this thread or workers). */
export interface DataPlaneView {
  readonly runtime: Runtime;
  /** Per-frontend counters (with workers: summed on `workers.refresh()`). */
  readonly counters: ReadonlyMap<string, FrontendRuntime>;
  status(frontendId: string): ListenerStatus | undefined;
}

/** A running Fulcrum: API URL, the services, and a graceful `close`. */
export interface RunningFulcrum {
  /** `http://host:port` of the API and console. */
  readonly apiUrl: string;
  readonly control: ControlPlane;
  readonly plane: DataPlaneView;
  /** The worker threads with `workers` above 1; undefined otherwise. */
  readonly workers: WorkerPool | undefined;
  readonly health: HealthService;
  readonly app: FastifyInstance;
  readonly log: Logger;
  /**
   * Graceful stop (API.md): stops the API and every listener, lets in-flight requests finish
   * within the longest backend drain timeout (at most `maxDrainMs`, default 30 s), then
   * closes the store.
   */
  close(maxDrainMs?: number): Promise<void>;
}

/**
 * Reads the API's certificate chain and key (`--api-cert`, `--api-key`); both or neither.
 * Throws an Error naming the flag when one is missing or a file cannot be read.
 */
function readApiTls(certFile?: string, keyFile?: string): { cert: Buffer; key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new Error('--api-cert and --api-key: give both (a PEM certificate chain and its private key), or neither');
  }
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${flag}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read('--api-cert', certFile), key: read('--api-key', keyFile) };
}

/** Secret key name of the cookie-persistence HMAC key in the store (P2, P5). */
const COOKIE_KEY = 'persistence.cookie-key';

/**
 * Starts the control plane and the data plane in this process: opens the store (`store`:
 * SQLite in the data dir by default, or a PostgreSQL store shared with other nodes, C5),
 * restores and applies the stored configuration (C2), joins the nodes of the store (applies
 * what any node commits, heartbeat in `nodes`), starts health checks, and serves the REST
 * API (and console) on `api`. Throws when the store cannot be opened (unreachable, corrupt,
 * newer schema), when a postgres store comes without FULCRUM_SECRET_KEY, or when the API
 * address cannot be bound.
 */
export async function startFulcrum(options: StartOptions = {}): Promise<RunningFulcrum> {
  const log = createLogger(options.logLevel);
  const { host, port } = parseHostPort(options.api ?? '127.0.0.1:8080', true);
  parseNetworkList(options.allowBackendNetworks ?? []); // a bad CIDR stops the start before anything opens
  // Where the API listens, for the address guard: the flag's port now, the bound port after listen.
  const localAddresses = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address));
  let apiEndpoint: ApiEndpoint | undefined = port === 0 ? undefined : { addresses: [host], port, localAddresses };
  const apiTls = readApiTls(options.apiCert, options.apiKey);
  const dataDir = path.resolve(options.dataDir ?? './data');
  const env0 = options.env ?? process.env;
  const storeUrl = options.store === undefined ? undefined : parseStoreUrl(options.store);
  if (storeUrl?.engine === 'postgres' && !env0.FULCRUM_SECRET_KEY) {
    throw new Error(
      'FULCRUM_SECRET_KEY: must be set, the same on every node, with a postgres store: ' +
        'certificate keys and the cookie key in the shared store are sealed with it',
    );
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore(options.store, dataDir);
  const nodeName = options.nodeName ?? hostname();
  let accessLog: AccessLog | undefined;
  let pool: WorkerPool | undefined;
  try {
    accessLog = options.accessLog ? createAccessLog(options.accessLog) : undefined;
    // T1: private keys of certificates are encrypted at rest with this key (FULCRUM_SECRET_KEY or data dir secret-key).
    const secretKey = loadSecretKey(dataDir, options.env ?? process.env);
    // The cookie HMAC key too (issue 10); a plain-text key of an older data dir is kept and re-stored sealed.
    const cookieKey = await loadSealedSecret(store, COOKIE_KEY, secretKey, () => randomBytes(32).toString('base64url'));
    const clock = realClock;
    const workerCount = options.workers ?? 1;
    if (!Number.isInteger(workerCount) || workerCount < 1 || workerCount > MAX_WORKERS) {
      throw new Error(`--workers: must be a whole number from 1 to ${MAX_WORKERS} (got ${workerCount})`);
    }
    const shared = workerCount > 1 ? new SharedCells() : undefined;
    const runtime = new Runtime(createBalancer, { clock, shared });
    const persistence = new PersistenceManager({ cookieKeys: [cookieKey] });
    const plane =
      workerCount > 1
        ? undefined
        : new Plane(runtime, listenerFactories({ secretKey, persistence, clock, reusePort: options.reusePort }), log, {
            accessLog,
          });
    const workers =
      shared === undefined
        ? undefined
        : new WorkerPool({
            count: workerCount,
            runtime,
            shared,
            secretKey,
            cookieKey,
            accessLog,
            log,
            logLevel: options.logLevel,
            // Explain (issue 16) predicts kept sessions from the workers' persistence tables.
            onSticky: (entries) => {
              const now = clock.now();
              for (const [backendId, kind, key, serverId] of entries) {
                const brt = runtime.backends.get(backendId);
                if (brt) persistence.replay(brt, kind, key, serverId, now);
              }
            },
          });
    pool = workers;
    await workers?.start();
    const dataPlane = (plane ?? workers) as Plane | WorkerPool;
    // T3: https/tls checks trust what requests trust (CA bundle, SNI, verify).
    const tlsOptionsFor = backendTrust.healthOptions(() => runtime.snapshot);
    const health = new HealthService({ runtime, clock, log, tlsOptionsFor });
    // Servers by host name (issue 15 point 2): snapshots reach the plane with names resolved.
    let control: ControlPlane | undefined;
    const instanceIpsOf = new WeakMap<object, Set<string>>();
    const dns = new DnsResolution({
      runtime,
      async apply(snapshot: Snapshot) {
        await dataPlane.apply(snapshot);
        health.sync(snapshot);
      },
      guard: addressGuard(parseNetworkList(options.allowBackendNetworks ?? []), () => apiEndpoint),
      policy: (id) => {
        const state = control?.state;
        const lb = state?.loadBalancers.find((l) => l.id === id);
        if (!state || !lb) return undefined;
        let instanceIps = instanceIpsOf.get(state);
        if (!instanceIps) instanceIpsOf.set(state, (instanceIps = new Set(state.instances.map((i) => i.privateIp))));
        return { ipAsBackend: lb.ipAsBackend, allowedNetworks: lb.allowedNetworks, instanceIps };
      },
      resolver: options.resolver,
      holdMs: options.dnsHoldMs,
      log,
    });
    // The control plane applies snapshots through this port; health checks follow each one.
    const port_: DataPlanePort = {
      apply: (snapshot: Snapshot) => dns.apply(snapshot),
      status: (id) => dataPlane.status(id),
      runtime: workers
        ? {
            clock: runtime.clock,
            server: (id) => runtime.server(id),
            backends: runtime.backends,
            drainingRemoved: runtime.drainingRemoved,
            setEventSink: (sink) => runtime.setEventSink(sink),
            setDrainTimeout: (id, ms) => workers.setDrainTimeout(id, ms),
          }
        : runtime,
      counters: dataPlane.counters,
      refresh: workers ? () => workers.refresh() : undefined,
      explain: createExplainer(runtime, persistence),
      discovered: (backendId) => dns.discovered(backendId),
    };
    control = await ControlPlane.start({
      store,
      plane: port_,
      log,
      allowBackendNetworks: options.allowBackendNetworks,
      apiEndpoint: () => apiEndpoint,
    });
    if (options.configFile) {
      try {
        const r = await applyConfigFile(control, options.configFile);
        log.info(
          { file: options.configFile, changes: r.steps.length, configVersion: r.configVersion },
          'configuration file applied',
        );
      } catch (err) {
        health.stop();
        dns.stop();
        await dataPlane.close(0);
        await control.close();
        throw err;
      }
    }
    const consoleDir =
      options.console === false ? undefined : typeof options.console === 'string' ? options.console : CONSOLE_DIR;
    const env = options.adminToken ? { ...process.env, FULCRUM_ADMIN_TOKEN: options.adminToken } : process.env;
    const auth = await AuthService.create({ adminToken: resolveAdminToken(dataDir, log, env), store });
    // C5: apply what any node commits, catch up every few seconds, heartbeat into `nodes`, reload tokens.
    await control.joinCluster({ name: nodeName, onTokens: () => auth.reload(), intervalMs: options.syncIntervalMs });
    const app = await buildApi({
      auth,
      control,
      dataDir,
      logger: log,
      env,
      consoleDir,
      nodeName,
      extraRoutes: [certificateRoutes(secretKey), registerExplainRoutes],
      authFailuresPerMinute: options.authFailuresPerMinute,
      https: apiTls,
      listenHost: host,
    });
    await app.listen({ host, port });
    const addr = app.server.address();
    const boundPort = typeof addr === 'object' && addr ? addr.port : port;
    apiEndpoint = {
      addresses: [host, ...app.addresses().map((a) => (typeof a === 'string' ? a : a.address))],
      port: boundPort,
      localAddresses,
    };
    const apiUrl = `${apiTls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
    if (!isLoopbackName(host)) {
      log.warn(
        { api: apiUrl },
        apiTls
          ? 'the API listens beyond this machine: restrict who can reach it (firewall) and use long tokens'
          : 'the API listens beyond this machine over plain HTTP: tokens cross the network in clear; use --api-cert/--api-key or a loopback address',
      );
    }
    log.info(
      { apiUrl, dataDir, store: store.engine, node: nodeName, configVersion: control.version, workers: workerCount },
      'fulcrum started',
    );
    let closing: Promise<void> | undefined;
    return {
      apiUrl,
      control,
      plane: dataPlane,
      workers,
      health,
      app,
      log,
      close(maxDrainMs = 30_000) {
        closing ??= (async () => {
          const drainMs = Math.min(
            maxDrainMs,
            Math.max(0, ...control.state.backends.map((b) => b.drainTimeoutSeconds * 1000)),
          );
          await app.close();
          health.stop();
          dns.stop();
          await dataPlane.close(drainMs);
          await control.close();
          await store.close();
          accessLog?.close();
          log.info('fulcrum stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    await pool?.close(0).catch(() => {});
    await store.close().catch(() => {});
    accessLog?.close();
    throw err;
  }
}
