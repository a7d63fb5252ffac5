import { stringify } from 'yaml';
import type { ConfigState } from '../config/model.ts';
import { buildBackend, buildFrontend, buildInstance, buildLoadBalancer, buildServer } from '../config/resources.ts';
import { deepEqual } from './plan.ts';

/**
 * `fulcrum export` (SPEC C4): the whole configuration in the declarative file's shape (API.md
 * appendix): no ids, references by name (`backend:`, `instance:`, `certificates:`,
 * `caCertificate:`), and fields equal to their defaults left out. Every resource is checked:
 * rebuilding it from what is written gives back the same document (else it is written in
 * full), so `fulcrum apply` of an export plans nothing.
 */

type Doc = Record<string, unknown>;

function isPlain(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `doc` without the keys whose value equals `defaults`' (recursively in objects). */
export function stripDefaults(doc: Doc, defaults: Doc, keep: readonly string[] = []): Doc {
  const out: Doc = {};
  for (const [k, v] of Object.entries(doc)) {
    const d = defaults[k];
    if (keep.includes(k)) out[k] = v;
    else if (deepEqual(v, d)) continue;
    else if (isPlain(v) && isPlain(d)) out[k] = stripDefaults(v, d);
    else out[k] = v;
  }
  return out;
}

function omit(d: Doc, keys: readonly string[]): Doc {
  const out: Doc = {};
  for (const [k, v] of Object.entries(d)) if (!keys.includes(k)) out[k] = v;
  return out;
}

/** The shortest input that `build` turns back into `doc` (else the whole document). */
function minimal(doc: Doc, defaults: Doc, keep: readonly string[], rebuild: (input: Doc) => unknown, ids: string[]) {
  const short = stripDefaults(omit(doc, ids), defaults, keep);
  return deepEqual(rebuild(short), doc) ? short : omit(doc, ids);
}

/** A copy of `state` whose documents carry no `version`. */
function withoutVersions(state: ConfigState): ConfigState {
  const strip = <T extends { version?: number }>(list: readonly T[]): T[] =>
    list.map(({ version: _v, ...rest }) => rest as T);
  return {
    version: state.version,
    loadBalancers: strip(state.loadBalancers),
    frontends: strip(state.frontends),
    backends: strip(state.backends),
    servers: strip(state.servers),
    instances: strip(state.instances),
    certificates: strip(state.certificates),
  };
}

/** The configuration as a declarative file object (see the module comment). */
export function exportState(withVersions: ConfigState): Doc {
  // A resource's `version` (its ETag) is the store's, never part of the file.
  const state = withoutVersions(withVersions);
  const name = (list: readonly { id: string; name: string }[], id: string): string =>
    list.find((x) => x.id === id)?.name ?? id;
  const certName = (id: string): string => name(state.certificates, id);
  const out: Doc = {};
  if (state.instances.length > 0) {
    out.instances = state.instances.map((i) =>
      minimal(
        i as unknown as Doc,
        buildInstance({ name: i.name, privateIp: i.privateIp }, i.id) as unknown as Doc,
        ['name', 'privateIp'],
        (x) => buildInstance(x, i.id),
        ['id'],
      ),
    );
  }
  out.loadBalancers = state.loadBalancers.map((lb) => {
    const lbDoc = minimal(
      lb as unknown as Doc,
      buildLoadBalancer({ name: lb.name }, lb.id) as unknown as Doc,
      ['name'],
      (x) => buildLoadBalancer(x, lb.id),
      ['id'],
    );
    const backends = state.backends.filter((b) => b.loadBalancerId === lb.id);
    if (backends.length > 0) {
      lbDoc.backends = backends.map((b) => {
        const ident = { name: b.name, mode: b.mode, loadBalancerId: lb.id };
        const bDoc = minimal(
          b as unknown as Doc,
          buildBackend(ident, b.id) as unknown as Doc,
          ['name', 'mode'],
          (x) => buildBackend({ ...x, loadBalancerId: lb.id }, b.id),
          ['id', 'loadBalancerId'],
        );
        const tls = bDoc.tls as Doc | undefined;
        if (tls && typeof tls.caCertificateId === 'string') {
          bDoc.tls = { ...omit(tls, ['caCertificateId']), caCertificate: certName(tls.caCertificateId) };
        }
        const servers = state.servers.filter((s) => s.backendId === b.id);
        if (servers.length > 0) {
          bDoc.servers = servers.map((s) => {
            const sIdent = { name: s.name, instanceId: s.instanceId };
            const sDoc = minimal(
              s as unknown as Doc,
              buildServer(sIdent, b.id, state, s.id) as unknown as Doc,
              ['name'],
              (x) => buildServer({ ...x, instanceId: s.instanceId }, b.id, state, s.id),
              ['id', 'backendId', 'instanceId', ...(s.instanceId === null ? [] : ['address'])],
            );
            const named: Doc = { name: s.name };
            if (s.instanceId !== null) named.instance = name(state.instances, s.instanceId);
            const rest = omit(sDoc, ['name', 'caCertificateId']);
            if (typeof s.caCertificateId === 'string' && 'caCertificateId' in sDoc)
              rest.caCertificate = certName(s.caCertificateId);
            return { ...named, ...rest };
          });
        }
        return bDoc;
      });
    }
    const frontends = state.frontends.filter((f) => f.loadBalancerId === lb.id);
    if (frontends.length > 0) {
      lbDoc.frontends = frontends.map((f) => {
        const ident = { name: f.name, protocol: f.protocol, port: f.port, loadBalancerId: lb.id };
        const fDoc = minimal(
          f as unknown as Doc,
          buildFrontend(ident, f.id) as unknown as Doc,
          ['name', 'protocol', 'port'],
          (x) => buildFrontend({ ...x, loadBalancerId: lb.id }, f.id),
          ['id', 'loadBalancerId'],
        );
        const backendName = (id: string) => name(backends, id);
        const out: Doc = {};
        for (const [k, v] of Object.entries(fDoc)) {
          if (k === 'defaultBackendId') out.backend = v === null ? null : backendName(String(v));
          else if (k === 'certificateIds') out.certificates = (v as string[]).map(certName);
          else if (k === 'rules' || k === 'sniRules') {
            out[k] = (v as Doc[]).map((r) => {
              const { backendId, ...rest } = r;
              return { ...rest, backend: backendName(String(backendId)) };
            });
          } else out[k] = v;
        }
        return out;
      });
    }
    return lbDoc;
  });
  return out;
}

/** `exportState` as YAML text with a header comment. */
export function exportYaml(state: ConfigState, from: string): string {
  const version = state.version > 0 ? ` (configVersion ${state.version})` : '';
  const header = `# Fulcrum configuration exported from ${from}${version}.\n# Apply with: fulcrum apply -f FILE [--dry-run] [--prune]\n`;
  return header + stringify(exportState(state), { lineWidth: 0 });
}
