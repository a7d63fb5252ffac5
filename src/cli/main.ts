import { Command, InvalidArgumentError } from 'commander';
import { parseNetworkList } from '../config/address-guard.ts';
import { parseHostPort } from '../core/net.ts';
import { type ClientFlags, clientFor, refusalText, resolveToken } from './api-client.ts';
import { runApply, runExport } from './apply.ts';

function hostPort(value: string): string {
  try {
    parseHostPort(value, true);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/** `--allow-backend-networks CIDR,…`: checked here so a bad CIDR is a usage error naming the flag. */
function networkList(value: string): string[] {
  try {
    return parseNetworkList(value).map((c) => c.text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Calls the API (api-client.ts); answers the JSON answer; exits 1 with the refusal in one line on 4xx/5xx. */
async function call(flags: ClientFlags, method: string, p: string, body?: unknown): Promise<unknown> {
  try {
    return await clientFor(flags).call(method, p, body);
  } catch (err) {
    console.error(`fulcrum: ${refusalText(err as Error)}`);
    process.exit(1);
  }
}

function print(v: unknown): void {
  console.log(JSON.stringify(v, null, 2));
}

/** Parses `key=value` pairs into a server body (numbers and booleans typed). */
function fields(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${p}"`);
    const k = p.slice(0, eq);
    const v = p.slice(eq + 1);
    out[k] = v === 'true' ? true : v === 'false' ? false : v === 'null' ? null : /^-?\d+$/.test(v) ? Number(v) : v;
  }
  return out;
}

/** A commander parser for a whole number ≥ 1; exits with a message naming the flag otherwise. */
function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new InvalidArgumentError(`${flag}: must be a whole number of at least 1`);
    return Number(v);
  };
}

/** The `fulcrum` command line (SPEC C4): `serve`, and API commands for scripting. */
export function buildProgram(): Command {
  const program = new Command('fulcrum').description('Fulcrum load balancer').showHelpAfterError();
  program
    .command('serve')
    .description('start the control plane (REST API, console) and the data plane in one process')
    .option('--api <host:port>', 'address of the REST API and console', hostPort, '127.0.0.1:8080')
    .option('--data-dir <dir>', 'data directory: SQLite store, admin token, secrets', './data')
    .option(
      '--store <url>',
      'configuration store: sqlite:PATH (default <data-dir>/fulcrum.db) or postgres://user@host:port/db, shared by several nodes (needs FULCRUM_SECRET_KEY, the same on every node)',
    )
    .option('--node-name <name>', 'name of this node in GET /api/v1/nodes (default: the host name)')
    .option('--reuse-port', 'http frontends bind with SO_REUSEPORT: several nodes on one machine share their ports')
    .option('--log-level <level>', 'log level: fatal, error, warn, info, debug, trace, silent')
    .option('--no-console', 'do not serve (or build) the web console')
    .option('--config <file>', 'apply a declarative configuration file (YAML or JSON) at start; no prune (C4)')
    .option('--access-log <file>', 'write one JSON line per HTTP request and TCP connection to FILE (- = stdout)')
    .option(
      '--allow-backend-networks <cidrs>',
      'comma-separated CIDRs whose addresses may be servers although the address guard refuses them (link-local, metadata…)',
      networkList,
    )
    .option(
      '--auth-failures-per-minute <n>',
      'failed authentications allowed per client address per minute, then 429',
      positiveInt('--auth-failures-per-minute'),
      20,
    )
    .option('--api-cert <file>', 'serve the API and console over HTTPS with this PEM certificate chain')
    .option('--api-key <file>', 'the PEM private key of --api-cert')
    .action(async (o) =>
      // Imported on use: client commands start without loading the whole product.
      (await import('./serve.ts')).serve({
        api: o.api,
        dataDir: o.dataDir,
        store: o.store,
        nodeName: o.nodeName,
        reusePort: o.reusePort === true,
        logLevel: o.logLevel,
        console: o.console,
        config: o.config,
        accessLog: o.accessLog,
        allowBackendNetworks: o.allowBackendNetworks,
        authFailuresPerMinute: o.authFailuresPerMinute,
        apiCert: o.apiCert,
        apiKey: o.apiKey,
      }),
    );

  const client = (cmd: Command) =>
    cmd
      .option('--url <url>', 'API base URL', process.env.FULCRUM_URL ?? 'http://127.0.0.1:8080')
      .option('--token <token>', 'API token (default FULCRUM_TOKEN, or <data-dir>/admin-token)')
      .option('--data-dir <dir>', 'data directory to read admin-token from', './data');

  client(program.command('get <resource> [id]'))
    .description('GET a resource: load-balancers, frontends, backends, instances, events, stats, …')
    .action(async (resource: string, id: string | undefined, o: ClientFlags) =>
      print(await call(o, 'GET', `/${resource}${id ? `/${id}` : ''}`)),
    );
  const server = program.command('server').description('add, update, enable, disable, drain or remove a server');
  client(server.command('list <backendId>'))
    .description("list a backend's servers with their status")
    .action(async (b: string, o: ClientFlags) => print(await call(o, 'GET', `/backends/${b}/servers`)));
  client(server.command('add <backendId> <fields...>'))
    .description('add a server: name=web-1 serverType=web address=10.0.0.11 port=8080 weight=2')
    .action(async (b: string, f: string[], o: ClientFlags) =>
      print(await call(o, 'POST', `/backends/${b}/servers`, fields(f))),
    );
  client(server.command('update <backendId> <serverId> <fields...>'))
    .description('change fields of a server: weight=3 port=8081')
    .action(async (b: string, s: string, f: string[], o: ClientFlags) =>
      print(await call(o, 'PATCH', `/backends/${b}/servers/${s}`, fields(f))),
    );
  for (const [name, enabled, what] of [
    ['enable', true, 'put a server back in rotation'],
    ['disable', false, 'take a server out of rotation; open connections drain (S3)'],
    ['drain', false, 'same as disable: no new connections, open ones finish within the drain timeout (S3)'],
  ] as const) {
    client(server.command(`${name} <backendId> <serverId>`))
      .description(what)
      .action(async (b: string, s: string, o: ClientFlags) =>
        print(await call(o, 'PATCH', `/backends/${b}/servers/${s}`, { enabled })),
      );
  }
  client(server.command('remove <backendId> <serverId>'))
    .description('remove a server; it drains first (S3)')
    .action(async (b: string, s: string, o: ClientFlags) =>
      print(await call(o, 'DELETE', `/backends/${b}/servers/${s}`)),
    );

  // Declarative configuration (SPEC C4, API.md appendix).
  client(program.command('apply'))
    .description(
      'make the configuration match a declarative file: prints the plan (a diff), then applies it; exit 0 ok, 1 refused, 2 file error',
    )
    .requiredOption('-f, --file <file>', 'the configuration file (YAML or JSON)')
    .option('--dry-run', 'print the plan and check it; change nothing')
    .option(
      '--prune',
      "also delete frontends, backends and servers of the file's load balancers that the file does not name",
    )
    .action(async (o: ClientFlags & { file: string; dryRun?: boolean; prune?: boolean }) => {
      process.exitCode = await runApply({
        file: o.file,
        url: o.url,
        token: resolveToken(o),
        dryRun: o.dryRun === true,
        prune: o.prune === true,
      });
    });
  client(program.command('export'))
    .description('print the whole configuration as a declarative YAML file (apply of it plans nothing)')
    .action(async (o: ClientFlags) => {
      process.exitCode = await runExport({ url: o.url, token: resolveToken(o) });
    });
  return program;
}

/** Runs the CLI on `argv` (as process.argv). */
export async function runCli(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}

if (import.meta.main) {
  runCli(process.argv).catch((err) => {
    console.error(`fulcrum: ${(err as Error).message}`);
    process.exit(1);
  });
}
