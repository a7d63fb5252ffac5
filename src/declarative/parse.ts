import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { Compile } from 'typebox/compile';
import { Composer, type Document, Lexer, LineCounter, Parser, type YAMLError } from 'yaml';
import { checkName, normalizeName } from '../config/names.ts';
import { schemaErrorToFulcrum } from '../config/schema-errors.ts';
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
 * The one name rule (config/names.ts) on every name of the file, in place: each resource's
 * `name` is checked and stored in NFC (a refusal names the path, e.g.
 * `loadBalancers[0].backends[1].name: must not contain "/" …`), and each name reference
 * (`backend`, `instance`, `certificates`, `caCertificate`) is put in NFC so it matches.
 */
function normaliseNames(source: string, root: { instances?: Fields[]; loadBalancers?: Fields[] }): void {
  const named = (v: Fields, path: string): void => {
    try {
      v.name = checkName(v.name, 'name');
    } catch (err) {
      throw fileError(source, `${path}.name`, (err as Error).message.replace(/^name: /, ''));
    }
  };
  const ref = (v: Fields | undefined, key: string): void => {
    if (!v) return;
    const r = v[key];
    if (typeof r === 'string') v[key] = normalizeName(r);
    else if (Array.isArray(r)) v[key] = r.map((x) => (typeof x === 'string' ? normalizeName(x) : x));
  };
  (root.instances ?? []).forEach((v, i) => {
    named(v, `instances[${i}]`);
  });
  (root.loadBalancers ?? []).forEach((lb, i) => {
    named(lb, `loadBalancers[${i}]`);
    ((lb.backends ?? []) as Fields[]).forEach((b, j) => {
      named(b, `loadBalancers[${i}].backends[${j}]`);
      ref(b.tls as Fields | undefined, 'caCertificate');
      ((b.servers ?? []) as Fields[]).forEach((sv, k) => {
        named(sv, `loadBalancers[${i}].backends[${j}].servers[${k}]`);
        ref(sv, 'instance');
        ref(sv, 'caCertificate');
      });
    });
    ((lb.frontends ?? []) as Fields[]).forEach((f, j) => {
      named(f, `loadBalancers[${i}].frontends[${j}]`);
      ref(f, 'backend');
      ref(f, 'certificates');
      for (const r of [...((f.rules ?? []) as Fields[]), ...((f.sniRules ?? []) as Fields[])]) ref(r, 'backend');
    });
  });
}

/**
 * Largest declarative file accepted, in bytes (4 MiB). The `yaml` package needs about 3 s and
 * 250 MB of memory per MiB of YAML, so a 50 MiB file ran the process out of memory (issue 10).
 * Also the body limit of a JSON `POST /api/v1/apply`; a YAML one may hold 1 MiB, as the API
 * parses it on its event loop (api/routes-apply.ts).
 */
export const MAX_DECLARATIVE_FILE_BYTES = 4 * 1024 * 1024;
/**
 * Most alias expansions (`*name`) a file may make: the `yaml` package's `maxAliasCount`, which
 * counts the nodes each alias brings in, so a "billion laughs" bomb is refused.
 */
export const MAX_YAML_ALIAS_COUNT = 100;
/**
 * Deepest nesting of YAML collections accepted (the parser's stack). A declarative file needs
 * about 10 levels; 4 MiB of `[[[[…` otherwise costs the parser 30 s and 2.4 GB.
 */
export const MAX_YAML_DEPTH = 64;

function tooLarge(file: string, bytes: number | undefined): DeclarativeFileError {
  const size = bytes === undefined ? 'more than 4 MiB' : `${bytes} bytes`;
  return new DeclarativeFileError(
    `${file}: the file is ${size}; a declarative configuration file may hold at most 4 MiB (${MAX_DECLARATIVE_FILE_BYTES} bytes)`,
  );
}

/**
 * Reads a declarative file as UTF-8 text without ever holding more than
 * MAX_DECLARATIVE_FILE_BYTES + 1 bytes: the size is checked (fstat) before reading, and the
 * read stops one byte past the limit (a file that grows meanwhile, a pipe, a device).
 * Throws DeclarativeFileError `FILE: cannot read the configuration file: …` or
 * `FILE: the file is N bytes; a declarative configuration file may hold at most 4 MiB …`.
 */
export function readDeclarativeFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new DeclarativeFileError(`${file}: cannot read the configuration file: ${(err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.size > MAX_DECLARATIVE_FILE_BYTES) throw tooLarge(file, st.size);
    // A regular file is read to its size plus one byte (to notice growth); anything else up to the limit plus one.
    const buf = Buffer.allocUnsafe(st.isFile() ? st.size + 1 : MAX_DECLARATIVE_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > MAX_DECLARATIVE_FILE_BYTES) throw tooLarge(file, undefined);
      if (n === buf.length) break;
    }
    return buf.toString('utf8', 0, n);
  } catch (err) {
    if (err instanceof DeclarativeFileError) throw err;
    throw new DeclarativeFileError(`${file}: cannot read the configuration file: ${(err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * The first YAML document of `text`, parsed with `yaml`'s Lexer → Parser → Composer (what
 * `parseDocument` does) but refusing, as soon as it is seen, nesting deeper than
 * MAX_YAML_DEPTH and a second document. Answers the document or the first error with its
 * line and column.
 */
function parseYaml(text: string, source: string): Document.Parsed {
  const lines = new LineCounter();
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  function* tokens() {
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      if (parser.stack.length > MAX_YAML_DEPTH) {
        const { line, col } = lines.linePos(parser.offset);
        throw new DeclarativeFileError(
          `${source}: YAML nested more than ${MAX_YAML_DEPTH} levels deep at line ${line}, column ${col}; a declarative file needs about 10`,
        );
      }
    }
    yield* parser.end();
  }
  const where = (e: YAMLError): string => {
    const { line, col } = lines.linePos(e.pos[0]);
    return `${e.message.split('\n')[0]} at line ${line}, column ${col}`;
  };
  let doc: Document.Parsed | undefined;
  for (const d of new Composer({ uniqueKeys: true }).compose(tokens(), true, text.length)) {
    if (doc) {
      const { line } = lines.linePos(d.range[0]);
      throw new DeclarativeFileError(
        `${source}: not valid YAML or JSON: a declarative file is one YAML document; another starts at line ${line}`,
      );
    }
    doc = d;
  }
  // compose(…, forceDoc = true) always ends with a document.
  const parsed = doc as Document.Parsed;
  const bad = parsed.errors[0];
  if (bad) throw new DeclarativeFileError(`${source}: not valid YAML or JSON: ${where(bad)}`);
  return parsed;
}

/**
 * Parses and checks a declarative file. `source` names the file in messages. Checks: YAML
 * syntax (with line and column), the schema of every entry (unknown keys, types, ranges, with
 * the API's rules), duplicate names within each parent, and that a reference is given in one
 * form only. Throws DeclarativeFileError naming the path, e.g.
 * `shop.yaml: loadBalancers[0].backends[1].servers[2].port: must be an integer from 1 to 65535`.
 * An empty file is an empty configuration. Resource limits (issue 10), each refused with a
 * message naming it: at most MAX_DECLARATIVE_FILE_BYTES of UTF-8, one YAML document, nesting
 * at most MAX_YAML_DEPTH, alias expansion at most MAX_YAML_ALIAS_COUNT (a "billion laughs"
 * file is refused, not expanded).
 */
export function parseDeclarative(text: string, source: string): DeclarativeFile {
  // Characters first (cheap): UTF-8 takes at least one byte per UTF-16 unit.
  if (text.length > MAX_DECLARATIVE_FILE_BYTES || Buffer.byteLength(text, 'utf8') > MAX_DECLARATIVE_FILE_BYTES) {
    throw tooLarge(source, Buffer.byteLength(text, 'utf8'));
  }
  const doc = parseYaml(text, source);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT }) ?? {};
  } catch (err) {
    if (!/alias/i.test((err as Error).message)) throw err;
    throw new DeclarativeFileError(
      `${source}: YAML aliases expand to too many nodes (more than ${MAX_YAML_ALIAS_COUNT} alias expansions); refused as a possible alias bomb`,
    );
  }
  return checkDeclarative(value, source);
}

/**
 * Checks a declarative document already read into a value (JSON.parse of a JSON body, `POST
 * /api/v1/apply`), as `parseDeclarative` does after the YAML: the schema of every entry,
 * the name rule, duplicate names, one form per reference. Throws DeclarativeFileError naming
 * the path (`SOURCE: loadBalancers[0].backends[1].servers[2].port: …`).
 */
export function checkDeclarative(value: unknown, source: string): DeclarativeFile {
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new DeclarativeFileError(`${source}: must be a mapping with instances and loadBalancers`);
  }
  if (!check.Check(value)) {
    const errs = [...check.Errors(value)] as unknown as Parameters<typeof schemaErrorToFulcrum>[1];
    const e = schemaErrorToFulcrum(DeclarativeFileSchema as unknown as Fields, errs, 'body');
    throw new DeclarativeFileError(`${source}: ${e.message.replace(/^body: /, 'file: ')}`, e.field);
  }
  const root = value as { instances?: Fields[]; loadBalancers?: Fields[] };
  normaliseNames(source, root);
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
