import { isIP } from 'node:net';
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import {
  type ApiClient,
  type ClientFlags,
  clientFor,
  exitCodeOf,
  refusalText,
  resolveToken,
  UsageError,
} from './api-client.ts';
import { runApply, runExport } from './apply.ts';
import { completeArgs, completionScript, Shells } from './completion.ts';
import { runEvents } from './events.ts';
import { resourceNames, runGet, serverColumns, tokenColumns } from './get.ts';
import { examples } from './help.ts';
import { type Column, colorOn, dash, type Format, Formats, healthColor, renderData, renderTable } from './output.ts';
import { pathOf, pick, type Res, Resolver, type ServerRef } from './resolve.ts';
import { runTop } from './top.ts';

/**
 * The API commands of `fulcrum` (everything but `serve`), each a client of the public API
 * through api-client.ts. Resources by path of names (`LB/BACKEND/SERVER`) or id; tables by
 * default, `-o wide|json|yaml`; one-line errors and the exit codes of `ExitCode`.
 */

type Flags = ClientFlags & { output: Format };

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Runs a command's body; on error prints one line (`fulcrum: …`) and exits with its code. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // The options (before the Command): --url defaults here, not in the help text.
    const o = args.at(-2) as Partial<ClientFlags> | undefined;
    if (o && typeof o === 'object' && 'dataDir' in o) o.url ??= process.env.FULCRUM_URL ?? DEFAULT_URL;
    try {
      await fn(...args);
    } catch (err) {
      console.error(`fulcrum: ${refusalText(err as Error)}`);
      process.exit(exitCodeOf(err));
    }
  };
}

/** The common flags of API commands: `--url`, `--token`, `--data-dir`. */
function client(cmd: Command): Command {
  return cmd
    .option(
      '--url <url>',
      'API base URL (default FULCRUM_URL or http://127.0.0.1:8080)',
      process.env.FULCRUM_URL ?? 'http://127.0.0.1:8080',
    )
    .option('--token <token>', 'API token (default FULCRUM_TOKEN, FULCRUM_ADMIN_TOKEN, or <data-dir>/admin-token)')
    .option('--data-dir <dir>', 'data directory to read admin-token from', './data');
}

/** `-o, --output` (table by default). */
function output(cmd: Command, formats: readonly Format[] = Formats): Command {
  return cmd.addOption(new Option('-o, --output <format>', 'output format').choices(formats).default('table'));
}

function resolver(o: ClientFlags): Resolver {
  return new Resolver(clientFor(o));
}

/** Parses `key=value` pairs into a server body (numbers and booleans typed). */
export function fields(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got "${p}"`);
    const k = p.slice(0, eq);
    const v = p.slice(eq + 1);
    out[k] = v === 'true' ? true : v === 'false' ? false : v === 'null' ? null : /^-?\d+$/.test(v) ? Number(v) : v;
  }
  return out;
}

/** A commander parser for a number of seconds > 0. */
function seconds(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || n <= 0 || n > 3600) {
      throw new InvalidArgumentError(`${flag}: must be a number of seconds above 0 and at most 3600`);
    }
    return n;
  };
}

function count(flag: string): (v: string) => number {
  return (v) => {
    if (!/^[1-9][0-9]{0,4}$/.test(v)) throw new InvalidArgumentError(`${flag}: must be a whole number from 1 to 99999`);
    return Number(v);
  };
}

/** Prints a changed server: one line (`server shop/web/web-3 draining, configVersion 7`), or its JSON/YAML. */
function printServer(ref: Omit<ServerRef, 'server'>, server: Res, verb: string, format: Format): void {
  if (format === 'json' || format === 'yaml') {
    console.log(renderData(server, format));
    return;
  }
  const state = server.status?.state ? ` (${server.status.health}, ${server.status.state})` : '';
  const version = server.configVersion === undefined ? '' : `, configVersion ${server.configVersion}`;
  console.log(`server ${pathOf(ref.loadBalancer, ref.backend, server)} ${verb}${state}${version}`);
}

/** Splits `update`'s words into the server (one path, or backend and server) and its fields. */
function serverAndFields(words: readonly string[]): { ref: string; serverRef?: string; pairs: string[] } {
  const [ref, second, ...rest] = words;
  if (ref === undefined) throw new UsageError('missing the server (LB/BACKEND/SERVER)');
  if (second !== undefined && !second.includes('=')) return { ref, serverRef: second, pairs: rest };
  return { ref, pairs: second === undefined ? [] : [second, ...rest] };
}

function serverCommands(program: Command): void {
  const server = examples(
    program
      .command('server')
      .description('list, add, update, enable, disable, drain or remove servers (by LB/BACKEND/SERVER or id)'),
    [
      'fulcrum server list shop/web',
      'fulcrum server drain shop/web/web-3',
      'fulcrum server update shop/web/web-3 weight=3',
    ],
  );
  examples(output(client(server.command('list <backend>'))), [
    'fulcrum server list shop/web',
    'fulcrum server list shop/web -o wide',
    'fulcrum server list be-3f9a0c1b2d4e -o json',
  ])
    .description("a backend's servers with their status (same as get servers LB/BACKEND)")
    .action(
      action(async (b: string, o: Flags) => {
        const r = resolver(o);
        const { backend } = await r.backend(b);
        const list = await r.servers(backend);
        if (o.output === 'json' || o.output === 'yaml') console.log(renderData(list, o.output));
        else
          console.log(
            renderTable(
              list,
              serverColumns(() => backend, false),
              { wide: o.output === 'wide', color: colorOn() },
            ),
          );
      }),
    );
  examples(output(client(server.command('add <backend> <fields...>'))), [
    'fulcrum server add shop/web name=web-4 serverType=web address=10.0.0.14 port=8080 weight=2',
    'fulcrum server add shop/web name=db-replica serverType=database instanceId=inst-0a1b2c3d4e5f',
  ])
    .description('add a server to LB/BACKEND: name=… serverType=… address=… [port=…] [weight=…] …')
    .action(
      action(async (b: string, f: string[], o: Flags) => {
        const r = resolver(o);
        const ref = await r.backend(b);
        const body = fields(f);
        const s = await r.api.call<Res>('POST', `/backends/${ref.backend.id}/servers`, body);
        printServer(ref, s, 'added', o.output);
      }),
    );
  examples(output(client(server.command('update <server> <fields...>'))), [
    'fulcrum server update shop/web/web-3 weight=3 port=8081',
    'fulcrum server update shop/web/web-3 weight=3 --if-match 4',
    '# the older form, a backend and a server, ids or names:',
    'fulcrum server update shop/web web-3 weight=3',
  ])
    .description('change fields of a server (LB/BACKEND/SERVER, or BACKEND SERVER): weight=3 port=8081')
    .option(
      '--if-match <version>',
      'change it only while the server is at this version (its ETag, `version` in -o json); else 412 naming the version it is at',
    )
    .action(
      action(async (words: string, more: string[], o: Flags & { ifMatch?: string }) => {
        const { ref, serverRef, pairs } = serverAndFields([words, ...more]);
        const body = fields(pairs);
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give field=value pairs');
        const headers: Record<string, string> = {};
        if (o.ifMatch !== undefined) {
          const v = o.ifMatch.replace(/^W\//, '').replace(/^"|"$/g, '');
          if (!/^\d{1,15}$/.test(v))
            throw new UsageError(`--if-match: must be a version number such as 3, not "${o.ifMatch}"`);
          headers['if-match'] = `"${v}"`;
        }
        const r = resolver(o);
        const s = await r.server(ref, serverRef);
        const answer = await r.api.call<Res>(
          'PATCH',
          `/backends/${s.backend.id}/servers/${s.server.id}`,
          body,
          headers,
        );
        printServer(s, answer, 'updated', o.output);
      }),
    );
  for (const [name, enabled, what, verb] of [
    ['enable', true, 'put a server back in rotation', 'enabled'],
    ['disable', false, 'take a server out of rotation; open connections drain (S3)', 'disabled'],
    ['drain', false, 'same as disable: no new connections, open ones finish within the drain timeout (S3)', 'draining'],
  ] as const) {
    examples(output(client(server.command(`${name} <server> [serverInBackend]`))), [
      `fulcrum server ${name} shop/web/web-3`,
      `fulcrum server ${name} srv-3f9a0c1b2d4e -o json`,
    ])
      .description(`${what}; the server as LB/BACKEND/SERVER or id (or BACKEND SERVER)`)
      .action(
        action(async (ref: string, serverRef: string | undefined, o: Flags) => {
          const r = resolver(o);
          const s = await r.server(ref, serverRef);
          const answer = await r.api.call<Res>('PATCH', `/backends/${s.backend.id}/servers/${s.server.id}`, {
            enabled,
          });
          printServer(s, answer, verb, o.output);
        }),
      );
  }
  examples(output(client(server.command('remove <server> [serverInBackend]'))), [
    'fulcrum server remove shop/web/web-3',
  ])
    .description('remove a server; it drains first (S3)')
    .action(
      action(async (ref: string, serverRef: string | undefined, o: Flags) => {
        const r = resolver(o);
        const s = await r.server(ref, serverRef);
        const answer = await r.api.call<Res>('DELETE', `/backends/${s.backend.id}/servers/${s.server.id}`);
        printServer(s, answer ?? s.server, 'removed', o.output);
      }),
    );
}

/** `lookup`: where an address, a server id or an instance id is used, across load balancers (S8). */
async function lookup(api: ApiClient, what: string): Promise<Res[]> {
  const queries = isIP(what) ? [`address=${what}`] : [`id=${what}`, `instanceId=${what}`, `address=${what}`];
  const seen = new Set<string>();
  const out: Res[] = [];
  for (const q of queries) {
    for (const hit of await api.call<Res[]>('GET', `/servers?${encodeURI(q)}`)) {
      if (seen.has(hit.server.id)) continue;
      seen.add(hit.server.id);
      out.push(hit);
    }
  }
  return out;
}

const lookupColumns: Column<Res>[] = [
  { header: 'server', cell: (h) => `${h.loadBalancerName}/${h.backendName}/${h.server.name}` },
  { header: 'address', cell: (h) => `${h.server.address}:${dash(h.server.port)}` },
  { header: 'weight', cell: (h) => String(h.server.weight), num: true },
  { header: 'health', cell: (h) => dash(h.server.status?.health), color: (h) => healthColor(h.server.status?.health) },
  { header: 'state', cell: (h) => dash(h.server.status?.state) },
  { header: 'instance', cell: (h) => dash(h.server.instanceId), wide: true },
  { header: 'id', cell: (h) => h.server.id, wide: true },
];

export function registerClientCommands(program: Command): void {
  const get = examples(
    output(client(program.command('get <resource> [ref]')))
      .description(
        `show resources as a table (-o wide|json|yaml): ${resourceNames.join(', ')}, or any other API path (stats, …). REF is a name or path of names (LB, LB/BACKEND, LB/BACKEND/SERVER) or an id`,
      )
      .option('-w, --watch', 'redraw every interval until Ctrl-C')
      .option('--interval <seconds>', 'seconds between redraws of --watch', seconds('--interval'), 2),
    [
      'fulcrum get load-balancers',
      'fulcrum get backends shop',
      'fulcrum get servers shop/web',
      'fulcrum get servers shop/web/web-3 -o yaml',
      'fulcrum get servers shop/web --watch',
      'fulcrum get frontends shop -o wide',
      'fulcrum get stats -o json',
    ],
  ).action(
    action(async (resource: string, ref: string | undefined, o: Flags & { watch?: boolean; interval: number }) => {
      await runGet(resolver(o), resource, ref, { output: o.output, watch: o.watch, interval: o.interval });
    }),
  );
  completeArgs(get, resourceNames);

  serverCommands(program);

  examples(output(client(program.command('lookup <what>'))), [
    'fulcrum lookup 10.0.0.11',
    'fulcrum lookup srv-3f9a0c1b2d4e',
    'fulcrum lookup inst-0a1b2c3d4e5f -o json',
  ])
    .description('which load balancers and backends use an IP address, a server id or an instance id (S8)')
    .action(
      action(async (what: string, o: Flags) => {
        const hits = await lookup(clientFor(o), what);
        if (o.output === 'json' || o.output === 'yaml') console.log(renderData(hits, o.output));
        else if (hits.length === 0) console.log(`no server uses ${what}`);
        else console.log(renderTable(hits, lookupColumns, { wide: o.output === 'wide', color: colorOn() }));
      }),
    );

  examples(
    output(client(program.command('events')))
      .description(
        'health transitions, drains, ejections and configuration changes, oldest first; --follow streams new ones',
      )
      .option('-f, --follow', 'after the recent events, print each new one as it happens (Ctrl-C to stop)')
      .option('--backend <ref>', 'only events of this backend (LB/BACKEND or id)')
      .option('--server <ref>', 'only events of this server (LB/BACKEND/SERVER or id)')
      .option('--lb <ref>', 'only events of this load balancer (name or id)')
      .option('--kind <kind>', 'only events of this kind: health, ejection, drain-start, drain-end, config, …')
      .option('--since <time>', 'only events after this ISO 8601 time or event id')
      .option('--limit <n>', 'how many recent events to print first', count('--limit'), 20),
    [
      'fulcrum events',
      'fulcrum events --follow --backend shop/web',
      'fulcrum events --server shop/web/web-3 --kind health',
      'fulcrum events -f -o json | jq .kind',
    ],
  ).action(
    action(
      async (
        o: Flags & {
          follow?: boolean;
          backend?: string;
          server?: string;
          lb?: string;
          kind?: string;
          since?: string;
          limit: number;
        },
      ) => {
        await runEvents(resolver(o), {
          output: o.output,
          follow: o.follow,
          backend: o.backend,
          server: o.server,
          loadBalancer: o.lb,
          kind: o.kind,
          since: o.since,
          limit: o.limit,
        });
      },
    ),
  );

  examples(
    client(program.command('top'))
      .description(
        'live per-server requests/s, errors/s, latency and connections from /stats, busiest first (Ctrl-C to stop)',
      )
      .option('--backend <ref>', 'only the servers of this backend (LB/BACKEND or id)')
      .option('--lb <ref>', 'only the servers of this load balancer')
      .option('--interval <seconds>', 'seconds between refreshes', seconds('--interval'), 2)
      .option('--iterations <n>', 'stop after this many refreshes', count('--iterations')),
    ['fulcrum top', 'fulcrum top --backend shop/web --interval 1', 'fulcrum top --iterations 1 > snapshot.txt'],
  ).action(
    action(async (o: ClientFlags & { backend?: string; lb?: string; interval: number; iterations?: number }) => {
      await runTop(resolver(o), {
        backend: o.backend,
        loadBalancer: o.lb,
        interval: o.interval,
        iterations: o.iterations,
      });
    }),
  );

  const token = examples(program.command('token').description('create, list and revoke API tokens (admin)'), [
    'fulcrum token create ci-deploy --role operator',
    'fulcrum token list',
    'fulcrum token revoke ci-deploy',
  ]);
  examples(
    output(client(token.command('create <name>')))
      .description('create a token; its secret is printed once')
      .addOption(
        new Option('--role <role>', 'what it may do: viewer reads, operator also changes servers, admin everything')
          .choices(['admin', 'operator', 'viewer'])
          .makeOptionMandatory(),
      ),
    [
      'fulcrum token create grafana --role viewer',
      'FULCRUM_TOKEN=$(fulcrum token create ci --role operator -o json | jq -r .token)',
    ],
  ).action(
    action(async (name: string, o: Flags & { role: string }) => {
      const t = await clientFor(o).call<Res>('POST', '/tokens', { name, role: o.role });
      if (o.output === 'json' || o.output === 'yaml') console.log(renderData(t, o.output));
      else {
        console.log(`token ${t.name} (${t.role}) created, id ${t.id}; its secret, shown only now:`);
        console.log(t.token);
      }
    }),
  );
  examples(output(client(token.command('list'))), ['fulcrum token list', 'fulcrum token list -o yaml'])
    .description('the tokens, without their secrets')
    .action(
      action(async (o: Flags) => {
        const list = await clientFor(o).call<Res[]>('GET', '/tokens');
        if (o.output === 'json' || o.output === 'yaml') console.log(renderData(list, o.output));
        else console.log(renderTable(list, tokenColumns, { wide: o.output === 'wide' }));
      }),
    );
  examples(client(token.command('revoke <token>')), [
    'fulcrum token revoke ci-deploy',
    'fulcrum token revoke tok-3f9a0c1b2d4e',
  ])
    .description('revoke a token (by name or id) and its console sessions')
    .action(
      action(async (ref: string, o: ClientFlags) => {
        const r = resolver(o);
        const t = pick(await r.list('/tokens'), ref.normalize('NFC'), 'token');
        await r.api.call('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
        console.log(`token ${t.name} revoked`);
      }),
    );

  // Declarative configuration (SPEC C4, API.md appendix).
  examples(client(program.command('apply')), [
    'fulcrum apply -f shop.yaml --dry-run',
    'fulcrum apply -f shop.yaml',
    'fulcrum apply -f shop.yaml --prune',
  ])
    .description(
      'make the configuration match a declarative file: sends it to POST /api/v1/apply, which applies the whole plan as one change or refuses it whole, and prints the plan (a diff); exit 0 ok, 1 refused, 2 file error, 3 API unreachable',
    )
    .requiredOption('-f, --file <file>', 'the configuration file (YAML or JSON)')
    .option('--dry-run', 'print the plan and check it by every rule of the server; change nothing')
    .option(
      '--prune',
      "also delete frontends, backends and servers of the file's load balancers that the file does not name",
    )
    .action(
      action(async (o: ClientFlags & { file: string; dryRun?: boolean; prune?: boolean }) => {
        process.exitCode = await runApply({
          file: o.file,
          url: o.url,
          token: resolveToken(o),
          dryRun: o.dryRun === true,
          prune: o.prune === true,
        });
      }),
    );
  examples(client(program.command('export')), ['fulcrum export > shop.yaml', 'fulcrum export --url https://lb1:8080'])
    .description('print the whole configuration as a declarative YAML file (apply of it plans nothing)')
    .action(
      action(async (o: ClientFlags) => {
        process.exitCode = await runExport({ url: o.url, token: resolveToken(o) });
      }),
    );

  examples(
    program
      .command('completion')
      .description('print a shell completion script, generated from these commands')
      .addArgument(new Argument('<shell>', 'the shell').choices(Shells)),
    [
      'source <(fulcrum completion bash)',
      'fulcrum completion zsh > ~/.zfunc/_fulcrum',
      'fulcrum completion fish > ~/.config/fish/completions/fulcrum.fish',
    ],
  ).action(
    action(async (shell: (typeof Shells)[number]) => {
      process.stdout.write(completionScript(program, shell));
    }),
  );
}
