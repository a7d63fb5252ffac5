import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CONSOLE_DIR, startFulcrum } from '../main.ts';

/** Flags of `fulcrum serve` (API.md "Starting it"). */
export interface ServeFlags {
  api: string;
  dataDir: string;
  /** `--store sqlite:PATH|postgres://user@host:port/db` (C5). */
  store?: string;
  /** `--node-name NAME`: this node in `GET /nodes` (default: the host name). */
  nodeName?: string;
  /** `--reuse-port`: http frontends bind with SO_REUSEPORT (several nodes on one machine). */
  reusePort?: boolean;
  logLevel?: string;
  /** `--log-format json|pretty` (default: pretty on a terminal, JSON otherwise). */
  logFormat?: 'json' | 'pretty';
  console: boolean;
  /** `--config FILE`: a declarative configuration applied at start (C4). */
  config?: string;
  /** `--access-log PATH|-`: one JSON line per request or connection (O2). */
  accessLog?: string;
  /** `--allow-backend-networks CIDR,…`: addresses the address guard lets through (issue 10). */
  allowBackendNetworks?: string[];
  /** `--resolver IP:port`: the DNS server for servers' host names (issue 15 point 2). */
  resolver?: string;
  /** `--auth-failures-per-minute N`: failed authentications per client per minute before 429. */
  authFailuresPerMinute?: number;
  /** `--api-cert FILE`, `--api-key FILE`: the API over HTTPS. */
  apiCert?: string;
  apiKey?: string;
  /** `--workers N`: data-plane worker threads (issue 13 point 1; default the number of cores). */
  workers?: number;
}

/**
 * Builds the web console when it is missing (issue "Web console": `npm start` builds it when
 * the build is missing). Returns false when the build failed; the API still starts.
 */
function ensureConsoleBuilt(): boolean {
  if (existsSync(path.join(CONSOLE_DIR, 'index.html'))) return true;
  const root = path.resolve(CONSOLE_DIR, '../..');
  const r = spawnSync('npm', ['run', '--silent', 'build:console'], { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

/**
 * `fulcrum serve`: starts control plane and data plane in this process and stops them
 * gracefully on SIGTERM and SIGINT (a second signal exits at once).
 */
export async function serve(flags: ServeFlags): Promise<void> {
  // core/log.ts reads it (startFulcrum creates the logger; its workers inherit the environment).
  if (flags.logFormat) process.env.FULCRUM_LOG_FORMAT = flags.logFormat;
  if (flags.console && !ensureConsoleBuilt()) console.error('fulcrum: console build failed; serving the API only');
  const fulcrum = await startFulcrum({
    api: flags.api,
    dataDir: flags.dataDir,
    store: flags.store,
    nodeName: flags.nodeName,
    reusePort: flags.reusePort,
    logLevel: flags.logLevel,
    console: flags.console,
    configFile: flags.config,
    accessLog: flags.accessLog,
    allowBackendNetworks: flags.allowBackendNetworks,
    resolver: flags.resolver,
    authFailuresPerMinute: flags.authFailuresPerMinute,
    apiCert: flags.apiCert,
    apiKey: flags.apiKey,
    workers: flags.workers,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    fulcrum.log.info({ signal }, 'stopping: draining connections');
    fulcrum.close().then(
      () => process.exit(0),
      (err) => {
        fulcrum.log.error({ err }, 'graceful stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
