import { Compile } from 'typebox/compile';
import { parseDocument } from 'yaml';
import { schemaErrorToFulcrum } from '../api/errors.ts';
import { FulcrumError } from '../core/errors.ts';
import { DeclarativeFileSchema } from './schema.ts';

/**
 * Reading a declarative configuration file (SPEC C4, API.md "Appendix: declarative
 * configuration file"): YAML or JSON text → a checked tree of named entries, each with its
 * path in the file (`loadBalancers[0].backends[1]`) so every later refusal can point at it.
 */

/** The fields of one entry as written in the file (API names, plus the name references). */
export type Fields = Record<string, unknown>;

/** One named entry of the file and where it is. */
export interface Entry {
  /** Path in the file, e.g. `loadBalancers[0].backends[1].servers[2]`. */
  path: string;
  name: string;
  fields: Fields;
}

export interface BackendEntry extends Entry {
  servers: Entry[];
}

export interface LoadBalancerEntry extends Entry {
  backends: BackendEntry[];
  frontends: Entry[];
}

/** A parsed and shape-checked file. */
export interface DeclarativeFile {
  /** Where it came from (file name), for messages. */
  source: string;
  instances: Entry[];
  loadBalancers: LoadBalancerEntry[];
}

/**
 * A file that cannot be used: unreadable, bad YAML, unknown key, wrong type, duplicate name,
 * unknown reference, or a value that breaks a field rule. Nothing was changed. `field` is the
 * path in the file. The CLI exits with code 2 on it.
 */
export class DeclarativeFileError extends FulcrumError {
  constructor(message: string, field?: string) {
    super('invalid', message, field);
    this.name = 'DeclarativeFileError';
  }
}

const check = Compile(DeclarativeFileSchema);

function fileError(source: string, path: string, rule: string): DeclarativeFileError {
  return new DeclarativeFileError(`${source}: ${path}: ${rule}`, path);
}

/** Both forms of one reference given at once (e.g. `backend` and `defaultBackendId`). */
function oneOf(source: string, path: string, f: Fields, byName: string, byId: string): void {
  if (f[byName] !== undefined && f[byId] !== undefined) {
    throw fileError(source, `${path}.${byName}`, `give either ${byName} (a name) or ${byId}, not both`);
  }
}

function uniqueNames(source: string, entries: readonly Entry[], what: string): void {
  const seen = new Map<string, string>();
  for (const e of entries) {
    const first = seen.get(e.name);
    if (first !== undefined) {
      throw fileError(
        source,
        `${e.path}.name`,
        `duplicate ${what} name "${e.name}" (also at ${first}); names are unique`,
      );
    }
    seen.set(e.name, e.path);
  }
}

function entry(path: string, v: Fields): Entry {
  return { path, name: String(v.name), fields: v };
}

/**
 * Parses and checks a declarative file. `source` names the file in messages. Checks: YAML
 * syntax (with line and column), the schema of every entry (unknown keys, types, ranges, with
 * the API's rules), duplicate names within each parent, and that a reference is given in one
 * form only. Throws DeclarativeFileError naming the path, e.g.
 * `shop.yaml: loadBalancers[0].backends[1].servers[2].port: must be an integer from 1 to 65535`.
 * An empty file is an empty configuration.
 */
export function parseDeclarative(text: string, source: string): DeclarativeFile {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const bad = doc.errors[0];
  if (bad) throw new DeclarativeFileError(`${source}: not valid YAML or JSON: ${bad.message.split('\n')[0]}`);
  const value: unknown = doc.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new DeclarativeFileError(`${source}: must be a mapping with instances and loadBalancers`);
  }
  if (!check.Check(value)) {
    const errs = [...check.Errors(value)] as unknown as Parameters<typeof schemaErrorToFulcrum>[1];
    const e = schemaErrorToFulcrum(DeclarativeFileSchema as unknown as Fields, errs, 'body');
    throw new DeclarativeFileError(`${source}: ${e.message.replace(/^body: /, 'file: ')}`, e.field);
  }
  const root = value as { instances?: Fields[]; loadBalancers?: Fields[] };
  const out: DeclarativeFile = {
    source,
    instances: (root.instances ?? []).map((v, i) => entry(`instances[${i}]`, v)),
    loadBalancers: [],
  };
  uniqueNames(source, out.instances, 'instance');
  (root.loadBalancers ?? []).forEach((lbv, i) => {
    const lbPath = `loadBalancers[${i}]`;
    const backends = ((lbv.backends ?? []) as Fields[]).map((bv, j) => {
      const bPath = `${lbPath}.backends[${j}]`;
      const servers = ((bv.servers ?? []) as Fields[]).map((sv, k) => {
        const sPath = `${bPath}.servers[${k}]`;
        oneOf(source, sPath, sv, 'instance', 'instanceId');
        oneOf(source, sPath, sv, 'caCertificate', 'caCertificateId');
        return entry(sPath, sv);
      });
      uniqueNames(source, servers, 'server');
      const tls = bv.tls as Fields | undefined;
      if (tls) oneOf(source, `${bPath}.tls`, tls, 'caCertificate', 'caCertificateId');
      return { ...entry(bPath, bv), servers };
    });
    const frontends = ((lbv.frontends ?? []) as Fields[]).map((fv, j) => {
      const fPath = `${lbPath}.frontends[${j}]`;
      oneOf(source, fPath, fv, 'backend', 'defaultBackendId');
      oneOf(source, fPath, fv, 'certificates', 'certificateIds');
      for (const list of ['rules', 'sniRules'] as const) {
        ((fv[list] ?? []) as Fields[]).forEach((r, k) => {
          const rPath = `${fPath}.${list}[${k}]`;
          oneOf(source, rPath, r, 'backend', 'backendId');
          if (r.backend === undefined && r.backendId === undefined) {
            throw fileError(source, `${rPath}.backend`, 'is required (the name of a backend of this load balancer)');
          }
        });
      }
      return entry(fPath, fv);
    });
    uniqueNames(source, backends, 'backend');
    uniqueNames(source, frontends, 'frontend');
    out.loadBalancers.push({ ...entry(lbPath, lbv), backends, frontends });
  });
  uniqueNames(source, out.loadBalancers, 'load balancer');
  return out;
}
