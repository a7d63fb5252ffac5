import { availableParallelism } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseNetworkList } from '../config/address-guard.ts';
import { MAX_WORKERS } from '../config/defaults.ts';
import { parseResolverAddress } from '../config/host-name.ts';
import { parseHostPort } from '../core/net.ts';
import { ExitCode, exitCodeOf, refusalText } from './api-client.ts';
import { registerClientCommands } from './commands.ts';
import { registerExplainCommand } from './explain.ts';
import { examples } from './help.ts';

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

/** `--resolver IP:port`: checked here so a bad value is a usage error naming the flag. */
function resolverAddress(value: string): string {
  try {
    return parseResolverAddress(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** A commander parser for a whole number ≥ 1; exits with a message naming the flag otherwise. */
function positiveInt(flag: string, max = Number.POSITIVE_INFINITY): (v: string) => number {
  return (v) => {
    if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new InvalidArgumentError(`${flag}: must be a whole number of at least 1`);
    if (Number(v) > max) throw new InvalidArgumentError(`${flag}: must be at most ${max}`);
    return Number(v);
  };
}

/** The `fulcrum` command line (SPEC C4): `serve`, and API commands for scripting (commands.ts). */
export function buildProgram(): Command {
  const program = new Command('fulcrum')
    .description('Fulcrum load balancer')
    .showHelpAfterError('(add --help for usage and examples)')
    // Usage errors exit 2 (ExitCode.usage), not commander's 1; runCli maps them.
    .exitOverride();
  program.addHelpText(
    'after',
    `
Resources are named by a path of names, LB/BACKEND/SERVER (or LB/FRONTEND), or by id.
Exit codes: 0 ok, 1 the API refused (the line names field and rule), 2 usage or file error,
3 the API cannot be reached, 4 a name matches no resource or several.`,
  );
  examples(program, [
    'fulcrum serve --api 0.0.0.0:8080',
    'fulcrum get servers shop/web',
    'fulcrum server drain shop/web/web-3',
    'fulcrum events --follow',
    'fulcrum COMMAND --help',
  ]);
  examples(program.command('serve'), [
    'fulcrum serve',
    'fulcrum serve --api 0.0.0.0:8080 --data-dir /var/lib/fulcrum --config shop.yaml',
    'fulcrum serve --log-format json --access-log -',
  ])
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
    .addOption(
      new Option(
        '--log-format <format>',
        'logs as JSON lines, or pretty for people (default: pretty on a terminal)',
      ).choices(['json', 'pretty']),
    )
    .option('--no-console', 'do not serve (or build) the web console')
    .option('--config <file>', 'apply a declarative configuration file (YAML or JSON) at start; no prune (C4)')
    .option('--access-log <file>', 'write one JSON line per HTTP request and TCP connection to FILE (- = stdout)')
    .option(
      '--allow-backend-networks <cidrs>',
      'comma-separated CIDRs whose addresses may be servers although the address guard refuses them (link-local, metadata…)',
      networkList,
    )
    .option(
      '--resolver <ip:port>',
      "the DNS server that resolves servers' host names (default: the system's resolvers)",
      resolverAddress,
    )
    .option(
      '--auth-failures-per-minute <n>',
      'failed authentications allowed per client address per minute, then 429',
      positiveInt('--auth-failures-per-minute'),
      20,
    )
    .option('--api-cert <file>', 'serve the API and console over HTTPS with this PEM certificate chain')
    .option('--api-key <file>', 'the PEM private key of --api-cert')
    .option(
      '--workers <n>',
      'data-plane worker threads, each accepting on every frontend (default: the number of cores; 1 = one thread)',
      positiveInt('--workers', MAX_WORKERS),
    )
    .action(async (o) =>
      // Imported on use: client commands start without loading the whole product.
      (await import('./serve.ts')).serve({
        api: o.api,
        dataDir: o.dataDir,
        store: o.store,
        nodeName: o.nodeName,
        reusePort: o.reusePort === true,
        logLevel: o.logLevel,
        logFormat: o.logFormat,
        console: o.console,
        config: o.config,
        accessLog: o.accessLog,
        allowBackendNetworks: o.allowBackendNetworks,
        resolver: o.resolver,
        authFailuresPerMinute: o.authFailuresPerMinute,
        apiCert: o.apiCert,
        apiKey: o.apiKey,
        workers: o.workers ?? Math.min(availableParallelism(), MAX_WORKERS),
      }),
    );

  registerClientCommands(program);
  registerExplainCommand(program);
  return program;
}

/** Runs the CLI on `argv` (as process.argv); answers the exit code of a usage error, else throws. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // Commander has printed the message (and help); help and version are not errors.
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
}

if (import.meta.main) {
  runCli(process.argv).catch((err) => {
    console.error(`fulcrum: ${refusalText(err as Error)}`);
    process.exit(exitCodeOf(err));
  });
}
