import type { Backend, Certificate, ConfigState, Frontend, Instance, LoadBalancer, Server } from '../config/model.ts';
import { followInstances } from '../config/resources.ts';
import { validateChange, validateConfig } from '../config/validate.ts';
import { exportYaml } from '../declarative/export.ts';
import { formatPlan, stepTitle } from '../declarative/format.ts';
import { DeclarativeFileError, parseDeclarative, readDeclarativeFile } from '../declarative/parse.ts';
import { applyPlanToState, type Plan, type PlanStep, planApply, resolveIds } from '../declarative/plan.ts';
import {
  ApiClient,
  type ApiRefusal,
  consoleOutput,
  ExitCode,
  exitCodeOf,
  type Output,
  refusalText,
} from './api-client.ts';

/**
 * `fulcrum apply` and `fulcrum export`, the CLI side of the declarative configuration (SPEC C4,
 * the file format is declarative/'s): reads the current configuration
 * through the public API, plans, checks the plan as a whole, and applies it call by call in
 * dependency order, stopping at the first refusal.
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

/**
 * Checks the plan as a whole before any call: applies it to a copy of `state` and runs the
 * control plane's own rules (config/validate.ts: F2, F5, S6, S7, SS2, references…). Throws
 * the first FulcrumError, whose message names the field and the rule.
 */
export function preflight(state: ConfigState, plan: Plan): void {
  const draft = structuredClone(state);
  applyPlanToState(draft, plan);
  followInstances(draft);
  validateChange(state, draft);
  // The name rules judge what the plan brings in (names already on the server are kept as they are);
  // the address guard is left to the server, which knows its --allow-backend-networks and its own address.
  validateConfig(draft, { before: state });
}

function endpoint(step: PlanStep, id: string, backendId: string): { method: string; path: string } {
  const e = encodeURIComponent;
  const base =
    step.kind === 'loadBalancer'
      ? '/load-balancers'
      : step.kind === 'instance'
        ? '/instances'
        : step.kind === 'backend'
          ? '/backends'
          : step.kind === 'frontend'
            ? '/frontends'
            : `/backends/${e(backendId)}/servers`;
  if (step.op === 'create') return { method: 'POST', path: base };
  return { method: step.op === 'update' ? 'PATCH' : 'DELETE', path: `${base}/${e(id)}` };
}

/** What `executePlan` did: steps applied (with the configVersion of each) and the refusal, if any. */
export interface ExecuteResult {
  applied: { step: PlanStep; configVersion: number }[];
  refused?: { step: PlanStep; error: ApiRefusal | Error };
}

/**
 * Applies a plan through the API, step by step in the plan's order; stops at the first
 * refusal. `onStep` is told after each applied step.
 */
export async function executePlan(
  api: ApiClient,
  plan: Plan,
  onStep: (step: PlanStep, configVersion: number) => void = () => {},
): Promise<ExecuteResult> {
  const ids = new Map<string, string>();
  const applied: ExecuteResult['applied'] = [];
  for (const step of plan.steps) {
    try {
      const id = step.op === 'create' ? '' : resolveIds(step.id, ids);
      const { method, path } = endpoint(step, id, resolveIds(step.backendId ?? '', ids));
      const answer = await api.call<{ id: string; configVersion: number }>(
        method,
        path,
        step.op === 'delete' ? undefined : resolveIds(step.body, ids),
      );
      if (step.op === 'create') ids.set(step.id, answer.id);
      applied.push({ step, configVersion: answer.configVersion });
      onStep(step, answer.configVersion);
    } catch (err) {
      return { applied, refused: { step, error: err as Error } };
    }
  }
  return { applied };
}

/** Options of `fulcrum apply`. */
export interface ApplyOptions {
  file: string;
  url: string;
  token: string;
  dryRun: boolean;
  prune: boolean;
}

/**
 * `fulcrum apply -f FILE [--dry-run] [--prune]`: reads and checks the file (exit 2 on a file
 * error, nothing called), reads the current configuration, prints the plan as a diff, checks
 * it as a whole (exit 1 when a rule refuses it, nothing changed), and unless `dryRun` applies
 * it (load balancers → instances → backends → servers → frontends, deletions in reverse),
 * stopping at the first refusal with the API's message and a summary of what was applied
 * (exit 1). Answers the exit code: 0 success.
 */
export async function runApply(options: ApplyOptions, io: Output = consoleOutput): Promise<number> {
  let text: string;
  try {
    text = readDeclarativeFile(options.file); // at most MAX_DECLARATIVE_FILE_BYTES, checked before reading
  } catch (err) {
    io.err(`fulcrum: ${(err as Error).message}`);
    return ExitCode.fileError;
  }
  const api = new ApiClient(options.url, options.token);
  let plan: Plan;
  let state: ConfigState;
  try {
    const file = parseDeclarative(text, options.file);
    state = await readState(api);
    plan = planApply(file, state, { prune: options.prune });
  } catch (err) {
    if (err instanceof DeclarativeFileError) {
      io.err(`fulcrum: ${err.message}`);
      return ExitCode.fileError;
    }
    io.err(`fulcrum: cannot read the current configuration from ${options.url}: ${refusalText(err as Error)}`);
    return exitCodeOf(err);
  }
  io.out(`Plan for ${options.file} against ${options.url}${options.prune ? ' (with --prune)' : ''}:`);
  for (const line of formatPlan(plan)) io.out(line);
  if (plan.steps.length === 0) return ExitCode.ok;
  try {
    preflight(state, plan);
  } catch (err) {
    io.err(`fulcrum: the plan is refused before any change: ${refusalText(err as Error)}`);
    return ExitCode.refused;
  }
  if (options.dryRun) {
    io.out('Dry run: nothing was changed.');
    return ExitCode.ok;
  }
  const result = await executePlan(api, plan, (step, v) => io.out(`✓ ${stepTitle(step)} (configVersion ${v})`));
  if (result.refused) {
    const { step, error } = result.refused;
    io.err(`✗ ${stepTitle(step)} refused: ${refusalText(error)}`);
    const n = result.applied.length;
    io.err(
      n === 0
        ? `Nothing was applied (0 of ${plan.steps.length} changes).`
        : `Applied ${n} of ${plan.steps.length} changes before the refusal: ${result.applied.map((a) => stepTitle(a.step)).join('; ')}.`,
    );
    return ExitCode.refused;
  }
  const last = result.applied.at(-1)?.configVersion;
  io.out(`Applied ${result.applied.length} change${result.applied.length === 1 ? '' : 's'} (configVersion ${last}).`);
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
