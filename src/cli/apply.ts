import type { Backend, Certificate, ConfigState, Frontend, Instance, LoadBalancer, Server } from '../config/model.ts';
import { exportYaml } from '../declarative/export.ts';
import { formatPlan } from '../declarative/format.ts';
import {
  type DeclarativeFile,
  DeclarativeFileError,
  parseDeclarative,
  readDeclarativeFile,
} from '../declarative/parse.ts';
import type { PlanStep } from '../declarative/plan.ts';
import { ApiClient, ApiRefusal, consoleOutput, ExitCode, exitCodeOf, type Output, refusalText } from './api-client.ts';

/**
 * `fulcrum apply` and `fulcrum export`, the CLI side of the declarative configuration (SPEC C4,
 * the file format is declarative/'s): `apply` checks the file here, then sends it whole to
 * `POST /api/v1/apply` (issue 15 point 1), which plans it against the configuration and
 * applies it as ONE change, so a valid final state is never refused at an intermediate step;
 * `export` reads the configuration through the public API.
 */

type WithStatus<T> = T & { status?: unknown; configVersion?: unknown };

function strip<T>(doc: WithStatus<T>): T {
  const { status: _s, configVersion: _v, ...rest } = doc;
  return rest as T;
}

/**
 * Reads the whole configuration through the API (`/load-balancers`, `/backends`,
 * `/frontends`, `/backends/{id}/servers`, `/instances`, `/certificates`) as a ConfigState
 * (version 0: the API does not say it). Servers deleted and still draining (S3) are left out.
 */
export async function readState(api: ApiClient): Promise<ConfigState> {
  const [loadBalancers, backends, frontends, instances, certificates] = await Promise.all([
    api.call<LoadBalancer[]>('GET', '/load-balancers'),
    api.call<WithStatus<Backend>[]>('GET', '/backends'),
    api.call<WithStatus<Frontend>[]>('GET', '/frontends'),
    api.call<Instance[]>('GET', '/instances'),
    api.call<Record<string, unknown>[]>('GET', '/certificates'),
  ]);
  const servers: Server[] = [];
  for (const b of backends) {
    const list = await api.call<WithStatus<Server>[]>('GET', `/backends/${encodeURIComponent(b.id)}/servers`);
    for (const s of list) {
      if ((s.status as { reason?: string } | undefined)?.reason === 'removed') continue;
      servers.push(strip(s));
    }
  }
  return {
    version: 0,
    loadBalancers,
    backends: backends.map(strip),
    frontends: frontends.map(strip),
    servers,
    instances,
    certificates: certificates.map(
      (c) =>
        ({
          id: String(c.id),
          name: String(c.name),
          kind: c.kind === 'ca' ? 'ca' : 'server',
          certPem: '',
          keyEncrypted: null,
          subjects: (c.subjects as string[]) ?? [],
          issuer: String(c.issuer ?? ''),
          notBefore: String(c.notBefore ?? ''),
          notAfter: String(c.notAfter ?? ''),
          fingerprintSha256: String(c.fingerprintSha256 ?? ''),
        }) satisfies Certificate,
    ),
  };
}

/** Options of `fulcrum apply`. */
export interface ApplyOptions {
  file: string;
  url: string;
  token: string;
  dryRun: boolean;
  prune: boolean;
}

/** What `POST /api/v1/apply` answers (routes-apply.ts). */
interface ApplyAnswer {
  dryRun: boolean;
  configVersion: number;
  steps: PlanStep[];
  names: Record<string, string>;
}

/** The document of a parsed file, as JSON for `POST /apply` (names already in NFC). */
function documentOf(file: DeclarativeFile): Record<string, unknown> {
  return { instances: file.instances.map((e) => e.fields), loadBalancers: file.loadBalancers.map((e) => e.fields) };
}

/** A 400 of `/apply` about the document itself (a path in it, such as an unknown backend name). */
function isFileRefusal(err: unknown): err is ApiRefusal {
  return err instanceof ApiRefusal && err.status === 400 && /^(loadBalancers|instances)\[/.test(err.field ?? '');
}

/**
 * `fulcrum apply -f FILE [--dry-run] [--prune]`: reads and checks the file (exit 2 on a file
 * error, nothing called; at most MAX_DECLARATIVE_FILE_BYTES), sends it as JSON to `POST
 * /api/v1/apply` (`?dryRun=true`, `?prune=true`), and prints the plan it answers as a diff.
 * The server plans against its configuration, judges the whole result by every rule and
 * applies it as ONE change (one configVersion), or refuses it whole: exit 1 with the API's
 * message, nothing changed (exit 2 when the refusal names a path in the file, such as a
 * backend name that exists nowhere). Answers the exit code: 0 success.
 */
export async function runApply(options: ApplyOptions, io: Output = consoleOutput): Promise<number> {
  let file: DeclarativeFile;
  try {
    // At most MAX_DECLARATIVE_FILE_BYTES, checked before reading.
    file = parseDeclarative(readDeclarativeFile(options.file), options.file);
  } catch (err) {
    if (!(err instanceof DeclarativeFileError)) throw err;
    io.err(`fulcrum: ${err.message}`);
    return ExitCode.fileError;
  }
  const api = new ApiClient(options.url, options.token);
  const query = [options.dryRun ? 'dryRun=true' : '', options.prune ? 'prune=true' : ''].filter(Boolean).join('&');
  let answer: ApplyAnswer;
  try {
    answer = await api.call<ApplyAnswer>('POST', `/apply${query ? `?${query}` : ''}`, documentOf(file));
  } catch (err) {
    if (isFileRefusal(err)) {
      io.err(`fulcrum: ${err.message.replace(/^body: /, `${options.file}: `)}`);
      return ExitCode.fileError;
    }
    const what =
      err instanceof ApiRefusal
        ? 'the plan is refused as a whole, nothing was changed'
        : `cannot apply ${options.file} to ${options.url}`;
    io.err(`fulcrum: ${what}: ${refusalText(err as Error)}`);
    return exitCodeOf(err);
  }
  io.out(`Plan for ${options.file} against ${options.url}${options.prune ? ' (with --prune)' : ''}:`);
  for (const line of formatPlan({ steps: answer.steps, names: new Map(Object.entries(answer.names)) })) io.out(line);
  if (answer.steps.length === 0) return ExitCode.ok;
  if (options.dryRun) {
    io.out('Dry run: nothing was changed.');
    return ExitCode.ok;
  }
  const n = answer.steps.length;
  io.out(`Applied ${n} change${n === 1 ? '' : 's'} as one (configVersion ${answer.configVersion}).`);
  return ExitCode.ok;
}

/** `fulcrum export`: prints the whole configuration as a declarative YAML file. Answers the exit code. */
export async function runExport(options: { url: string; token: string }, io: Output = consoleOutput): Promise<number> {
  try {
    const state = await readState(new ApiClient(options.url, options.token));
    io.out(exportYaml(state, options.url).trimEnd());
    return ExitCode.ok;
  } catch (err) {
    io.err(`fulcrum: cannot read the configuration from ${options.url}: ${refusalText(err as Error)}`);
    return exitCodeOf(err);
  }
}
