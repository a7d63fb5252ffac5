import { randomBytes } from 'node:crypto';
import {
  Defaults,
  defaultBackend,
  defaultBackendTimeouts,
  defaultFrontendTimeouts,
  defaultHttpCheck,
} from './defaults.ts';
import type { Backend, ConfigState, Frontend, Instance, LoadBalancer, Server } from './model.ts';

/**
 * Building full resources from POST bodies (defaults fill every omitted field, API.md) and
 * merging PATCH bodies into them (nested objects merge field by field). Pure.
 */

/** An opaque id: a kind prefix and 12 random hex digits, e.g. `srv-3f9a0c1b2d4e`. */
export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * JSON merge of `patch` into a copy of `base`: plain objects merge key by key, anything
 * else (arrays, scalars, null) replaces. `undefined` values are ignored.
 */
export function mergePatch<T>(base: T, patch: unknown): T {
  if (!isPlainObject(patch) || !isPlainObject(base)) return (patch === undefined ? base : patch) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergePatch(out[k], v) : structuredClone(v);
  }
  return out as T;
}

/** Fills settings a chosen type needs (H1 http/mysql/postgres settings, P2 cookie name). */
export function completeBackend(b: Backend): Backend {
  const hc = b.healthCheck;
  if ((hc.type === 'http' || hc.type === 'https') && !hc.http) hc.http = defaultHttpCheck();
  if (hc.http) hc.http = { ...defaultHttpCheck(), ...hc.http };
  if (hc.type === 'mysql' && !hc.mysql) hc.mysql = { user: 'fulcrum' };
  if (hc.type === 'postgres' && !hc.postgres) hc.postgres = { user: 'fulcrum', database: 'postgres' };
  if (b.persistence.type === 'cookie' && !b.persistence.cookieName) b.persistence.cookieName = Defaults.cookieName;
  return b;
}

type Body = Record<string, unknown>;

/** A load balancer from a POST body. */
export function buildLoadBalancer(input: Body, id = newId('lb')): LoadBalancer {
  return mergePatch<LoadBalancer>(
    { id, name: '', description: '', allowedNetworks: [], ipAsBackend: false, maxServers: Defaults.maxServers },
    { ...input, id },
  );
}

/** A frontend from a POST body. */
export function buildFrontend(input: Body, id = newId('fe')): Frontend {
  return mergePatch<Frontend>(
    {
      id,
      loadBalancerId: '',
      name: '',
      protocol: 'http',
      bindAddress: Defaults.bindAddress,
      port: 0,
      defaultBackendId: null,
      certificateIds: [],
      enabled: true,
      timeouts: defaultFrontendTimeouts(),
      maxConnections: 0,
      rules: [],
      tlsPassthrough: false,
      redirectToHttps: false,
      sniRules: [],
    },
    { ...input, id },
  );
}

/**
 * The rule between a health check's interval and timeout, the one copy, for create and
 * update alike: when the request sets `healthCheck.intervalSeconds` but not
 * `timeoutSeconds`, the timeout (the default on create, the stored one on update) comes down
 * to the interval when it is longer (as HAProxy's check timeout defaults to the interval);
 * when it sets both and the timeout is longer, validation refuses it (400 naming
 * `healthCheck.timeoutSeconds`). `b` already holds the request's values.
 */
export function fitHealthCheckTimeout(b: Backend, input: Body): Backend {
  const hc = input.healthCheck as { intervalSeconds?: unknown; timeoutSeconds?: unknown } | undefined;
  const interval = b.healthCheck.intervalSeconds;
  if (hc?.intervalSeconds !== undefined && hc.timeoutSeconds === undefined && Number.isInteger(interval)) {
    if (interval >= 1 && b.healthCheck.timeoutSeconds > interval) b.healthCheck.timeoutSeconds = interval;
  }
  return b;
}

/** A backend from a POST body; the health check type defaults from the mode. */
export function buildBackend(input: Body, id = newId('be')): Backend {
  const mode = (input.mode ?? 'http') as Backend['mode'];
  const base = defaultBackend(id, String(input.loadBalancerId ?? ''), String(input.name ?? ''), mode);
  base.timeouts = defaultBackendTimeouts();
  return completeBackend(fitHealthCheckTimeout(mergePatch(base, { ...input, id }), input));
}

/** A backend PATCH merged into `cur` (nested settings merge field by field); id and load balancer stay. */
export function mergeBackend(cur: Backend, patch: Body): Backend {
  // completeBackend and fitHealthCheckTimeout edit nested settings: on a copy, since `cur`
  // may be the current state's own (frozen in part by the snapshot) document.
  const next = { ...mergePatch(structuredClone(cur), patch), id: cur.id, loadBalancerId: cur.loadBalancerId };
  return completeBackend(fitHealthCheckTimeout(next, patch));
}

/** A server of `backendId` from a POST body; the address follows `instanceId` when given. */
export function buildServer(input: Body, backendId: string, state: ConfigState, id = newId('srv')): Server {
  const inst =
    typeof input.instanceId === 'string' ? state.instances.find((i) => i.id === input.instanceId) : undefined;
  return mergePatch<Server>(
    {
      id,
      backendId,
      name: '',
      serverType: inst?.serverType ?? 'other',
      instanceId: null,
      address: inst?.privateIp ?? '',
      port: null,
      weight: Defaults.weight,
      zone: null,
      passive: false,
      sslOffload: false,
      caCertificateId: null,
      enabled: true,
      description: '',
      tags: [],
      healthCheck: { port: null, enabled: true },
    },
    { ...input, id, backendId },
  );
}

/**
 * Merges a server PATCH: giving `address` without `instanceId` turns an instance-bound
 * server into a custom IP; giving `instanceId` makes the address follow that instance.
 */
export function mergeServer(cur: Server, patch: Body): Server {
  const next = mergePatch(cur, patch);
  if (patch.address !== undefined && patch.instanceId === undefined) next.instanceId = null;
  return next;
}

/** An inventory instance from a POST body. */
export function buildInstance(input: Body, id = newId('inst')): Instance {
  return mergePatch<Instance>(
    { id, name: '', privateIp: '', zone: null, os: null, serverType: 'other' },
    { ...input, id },
  );
}

/** Makes every instance-bound server's address its instance's IP (a PATCH of privateIp moves them, S7). */
export function followInstances(state: ConfigState): void {
  const ips = new Map(state.instances.map((i) => [i.id, i.privateIp]));
  if (ips.size === 0) return;
  // A moved server is a new document: the state's documents may be shared with the state
  // before the change (control/pipeline.ts), so they are replaced, never edited.
  state.servers.forEach((s, i) => {
    if (s.instanceId === null) return;
    const ip = ips.get(s.instanceId);
    if (ip !== undefined && s.address !== ip) state.servers[i] = { ...s, address: ip };
  });
}
