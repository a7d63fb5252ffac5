import { createHash } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type AddressGuard, backendAddressProblem, parseIPv4Strict } from '../config/address-guard.ts';
import type { BackendSpec, ServerSpec, Snapshot } from '../config/snapshot.ts';
import { endpointOf } from '../config/snapshot.ts';
import { type Clock, realClock } from '../core/clock.ts';
import { LayeredMap } from '../core/layered-map.ts';
import { cidrContains, parseCidr4 } from '../core/net.ts';
import type { Runtime } from './runtime.ts';
import type { ServerRuntime } from './server-runtime.ts';

/**
 * Servers by DNS name (issue 15 point 2). A server whose address is a host name is resolved
 * here, asynchronously, with a `node:dns` Resolver (never the thread-pool `lookup`; `fulcrum
 * serve --resolver IP:port` points it at one DNS server, else the system's servers), and the
 * data plane runs on a snapshot whose server specs carry the resolved address: requests
 * never wait for DNS, and a changed address is an address change (the Runtime resets health,
 * the health service probes the new endpoint at once).
 *
 * - A records only (custom addresses are IPv4, S7), re-resolved at the records' smallest TTL
 *   bounded to 5–300 s, every 5 s while it fails, and early (at most every 5 s) while a
 *   server of the name fails its checks or its connections.
 * - Every resolved address passes the same rules as a literal one (DNS rebinding): the address
 *   guard (link-local, metadata, …, the admin API's own address and port) and, unless the load
 *   balancer has `ipAsBackend`, its allowed networks or an inventory instance's IP. A server
 *   keeps its current address while the answer still holds it, else takes the first
 *   acceptable one in order.
 * - When the resolver fails, the last good answer is kept for `holdMs` (default 300 s).
 * - No usable address: `rt.dnsProblem` (the status reason) is `dns-pending` (no answer yet),
 *   `dns-failed` (resolver failing and nothing held) or `dns-refused` (every answer refused);
 *   such a server takes no traffic and is not probed.
 */

/** What the rules for a resolved address need of the server's load balancer (S7). */
export interface DnsPolicy {
  readonly ipAsBackend: boolean;
  readonly allowedNetworks: readonly string[];
  /** Inventory instances' IPs (a custom address equal to one is allowed, S7). */
  readonly instanceIps: ReadonlySet<string>;
}

export interface DnsResolutionOptions {
  readonly runtime: Runtime;
  /** Applies a (rewritten) snapshot to the data plane and the health checks. */
  readonly apply: (snapshot: Snapshot) => Promise<void>;
  readonly guard: AddressGuard;
  /** The S7 rules of a load balancer by id; undefined while unknown (the name is then pending). */
  readonly policy: (loadBalancerId: string) => DnsPolicy | undefined;
  /** `IP:port` of the DNS server (`--resolver`); the system's servers when absent. */
  readonly resolver?: string;
  readonly clock?: Clock;
  readonly log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** How long the last good answer is kept while the resolver fails (ms; default 300 s). */
  readonly holdMs?: number;
  /** TTL bounds (s; default 5 and 300). */
  readonly minTtlSeconds?: number;
  readonly maxTtlSeconds?: number;
  /** How often due names and changes are looked at (ms; default 500). */
  readonly tickMs?: number;
  /** Per-query timeout (ms; default 2000). */
  readonly queryTimeoutMs?: number;
}

interface NameState {
  readonly name: string;
  /** Last good answer, in answer order. */
  addresses: string[];
  /** ms epoch of the last good answer; 0 = never. */
  goodAt: number;
  /** Last failure's text; null after a good answer. */
  error: string | null;
  /** ms epoch of the last query start; 0 = never. */
  lastAt: number;
  nextAt: number;
  inflight: boolean;
}

/** A backend's discovery source (API.md second wave: `discovery: { type: "dns-srv", name, resolver? }`). */
export interface DiscoverySource {
  readonly type: 'dns-srv';
  readonly name: string;
  /** `IP:port` of the DNS server for this backend; the process's resolver when absent. */
  readonly resolver?: string | null;
  readonly overrides?: Readonly<Record<string, { readonly weight?: number; readonly enabled?: boolean }>>;
}

/** One SRV record with its target's A answer. */
interface SrvEntry {
  readonly target: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
  readonly addresses: readonly string[];
}

interface SrvState {
  readonly key: string;
  readonly source: DiscoverySource;
  entries: SrvEntry[];
  goodAt: number;
  error: string | null;
  lastAt: number;
  nextAt: number;
  inflight: boolean;
}

/** The discovery source a backend names, if any (read from its document: `backend.config.discovery`). */
export function discoveryOf(b: BackendSpec): DiscoverySource | undefined {
  const d = (b.config as { discovery?: DiscoverySource | null }).discovery;
  return d && d.type === 'dns-srv' && typeof d.name === 'string' ? d : undefined;
}

/** The stable id of a discovered server, from its backend, SRV target and port (`srv-` and 16 hex digits). */
export function discoveredServerId(backendId: string, target: string, port: number): string {
  const key = `${backendId}|${target.toLowerCase().replace(/\.$/, '')}|${port}`;
  return `srv-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** SRV weight (0–65535) as a server weight (1–100): 0 is the smallest share, not none (RFC 2782). */
export function srvWeight(w: number): number {
  return Math.max(1, Math.min(100, Math.round(w)));
}

/** A hostname server's outcome: the address it runs on, or why it has none. */
interface Outcome {
  readonly address: string | null;
  readonly problem: string | null;
  readonly message?: string;
  /** A discovered server's spec (SRV), added to its backend. */
  readonly spec?: ServerSpec;
}

/** True when `address` is a host name (not an IP literal). */
export function isNameAddress(address: string): boolean {
  return isIP(address) === 0;
}

/** A Resolver for `IP:port` (or the system's servers), with bounded timeouts. */
export function createResolver(server: string | undefined, timeoutMs = 2000): Resolver {
  const r = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (server) r.setServers([server]);
  return r;
}

export class DnsResolution {
  readonly #o: DnsResolutionOptions;
  readonly #clock: Clock;
  readonly #resolver: Resolver;
  readonly #names = new Map<string, NameState>();
  /** SRV discovery by `resolver|name`. */
  readonly #srv = new Map<string, SrvState>();
  readonly #resolvers = new Map<string, Resolver>();
  /** Discovered servers of the last apply, by id (what `#outcomes` judges like named servers). */
  #discovered = new Map<string, ServerSpec>();
  /** What each hostname server runs on now, by server id (what was last applied). */
  #applied = new Map<string, Outcome>();
  #original: Snapshot | undefined;
  #chain: Promise<void> = Promise.resolve();
  #pending = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: DnsResolutionOptions) {
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.#resolver = createResolver(options.resolver, options.queryTimeoutMs);
    this.#timer = setInterval(() => this.#tick(), options.tickMs ?? 500);
    this.#timer.unref();
  }

  /** Applies a snapshot from the control plane: host names replaced by what they resolve to. */
  apply(snapshot: Snapshot): Promise<void> {
    this.#original = snapshot;
    const wanted = new Set<string>();
    for (const s of hostnameServers(snapshot.servers).values()) wanted.add(s.address);
    for (const name of this.#names.keys()) if (!wanted.has(name)) this.#names.delete(name);
    for (const name of wanted) {
      if (this.#names.has(name)) continue;
      const st: NameState = { name, addresses: [], goodAt: 0, error: null, lastAt: 0, nextAt: 0, inflight: false };
      this.#names.set(name, st);
      this.#resolve(st);
    }
    const sources = new Set<string>();
    for (const b of snapshot.backends.values()) {
      const d = discoveryOf(b);
      if (!d) continue;
      const key = srvKey(d);
      sources.add(key);
      if (this.#srv.has(key)) continue;
      const st: SrvState = {
        key,
        source: d,
        entries: [],
        goodAt: 0,
        error: null,
        lastAt: 0,
        nextAt: 0,
        inflight: false,
      };
      this.#srv.set(key, st);
      this.#resolveSrv(st);
    }
    for (const key of this.#srv.keys()) if (!sources.has(key)) this.#srv.delete(key);
    return this.#reapply();
  }

  /** The discovered servers of every backend with a discovery source, from the answers held now. */
  #discover(now: number): Map<string, ServerSpec> {
    const out = new Map<string, ServerSpec>();
    if (!this.#original) return out;
    const hold = this.#o.holdMs ?? 300_000;
    for (const b of this.#original.backends.values()) {
      const d = discoveryOf(b);
      if (!d) continue;
      const st = this.#srv.get(srvKey(d));
      if (!st || st.goodAt === 0 || (st.error !== null && now - st.goodAt > hold)) continue;
      const best = Math.min(...st.entries.map((e) => e.priority));
      for (const e of st.entries) {
        const id = discoveredServerId(b.id, e.target, e.port);
        if (out.has(id)) continue;
        const name = `${e.target.replace(/\.$/, '')}:${e.port}`;
        const over = d.overrides?.[id];
        out.set(id, {
          id,
          backendId: b.id,
          loadBalancerId: b.loadBalancerId,
          name,
          serverType: 'other',
          instanceId: null,
          address: e.target,
          port: e.port,
          endpoint: name,
          weight: over?.weight ?? srvWeight(e.weight),
          maxConnections: 0,
          zone: null,
          // RFC 2782: the lowest priority takes the traffic; higher ones are backups.
          passive: e.priority > best,
          sslOffload: false,
          caCertificateId: null,
          enabled: over?.enabled ?? true,
          os: null,
          healthCheck: { port: null, enabled: true },
        });
      }
    }
    return out;
  }

  /** Discovered servers by backend id, as the last apply had them (for the API). */
  discovered(backendId: string): ServerSpec[] {
    return [...this.#discovered.values()].filter((s) => s.backendId === backendId);
  }

  #resolverFor(server: string | null | undefined): Resolver {
    if (!server) return this.#resolver;
    let r = this.#resolvers.get(server);
    if (!r) this.#resolvers.set(server, (r = createResolver(server, this.#o.queryTimeoutMs)));
    return r;
  }

  #resolveSrv(st: SrvState): void {
    st.inflight = true;
    st.lastAt = this.#clock.now();
    const minS = this.#o.minTtlSeconds ?? 5;
    const r = this.#resolverFor(st.source.resolver);
    const done = (error: string | null, entries?: SrvEntry[]) => {
      st.inflight = false;
      if (this.#stopped || this.#srv.get(st.key) !== st) return;
      const now = this.#clock.now();
      st.error = error;
      if (entries) {
        st.entries = entries;
        st.goodAt = now;
      }
      // SRV answers carry no TTL through node:dns: looked at again at the lower bound.
      st.nextAt = now + minS * 1000;
      this.#maybeReapply();
    };
    r.resolveSrv(st.source.name).then(
      async (records) => {
        const entries = await Promise.all(
          records.map(async (rec): Promise<SrvEntry> => {
            const addresses = await r.resolve4(rec.name).catch(() => [] as string[]);
            return { target: rec.name, port: rec.port, priority: rec.priority, weight: rec.weight, addresses };
          }),
        );
        done(null, entries);
      },
      (err: NodeJS.ErrnoException) => done(`${err.code ?? 'error'}: ${err.message}`),
    );
  }

  #maybeReapply(): void {
    if (this.#original && this.#changed(this.#outcomes(this.#clock.now()))) void this.#reapply().catch(() => {});
  }

  /** Stops the timer; answers in flight are ignored. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
  }

  /** The outcome for one server spec with the answers held now. */
  #outcome(spec: ServerSpec, now: number, srvAddresses?: readonly string[]): Outcome {
    let addresses: readonly string[];
    if (srvAddresses) {
      if (srvAddresses.length === 0) return { address: null, problem: 'dns-failed', message: 'no A record' };
      addresses = srvAddresses;
    } else {
      const st = this.#names.get(spec.address);
      if (!st) return { address: null, problem: 'dns-pending' };
      const held = st.goodAt > 0 && (st.error === null || now - st.goodAt <= (this.#o.holdMs ?? 300_000));
      if (!held) {
        return st.error === null
          ? { address: null, problem: 'dns-pending' }
          : { address: null, problem: 'dns-failed', message: st.error };
      }
      addresses = st.addresses;
    }
    const policy = this.#o.policy(spec.loadBalancerId);
    if (!policy) return { address: null, problem: 'dns-pending' };
    const ok: string[] = [];
    let firstProblem: string | undefined;
    for (const a of addresses) {
      const problem = this.#refusal(a, spec, policy);
      if (problem === undefined) ok.push(a);
      else firstProblem ??= problem;
    }
    if (ok.length === 0) {
      return {
        address: null,
        problem: 'dns-refused',
        message: `${spec.address} resolves to no usable address: ${firstProblem ?? 'empty answer'}`,
      };
    }
    const current = this.#applied.get(spec.id)?.address;
    return { address: current && ok.includes(current) ? current : (ok[0] as string), problem: null };
  }

  /** Why a resolved address may not be this server's (the same rules as a literal address). */
  #refusal(address: string, spec: ServerSpec, policy: DnsPolicy): string | undefined {
    if (parseIPv4Strict(address) === undefined) return `${address} is not an IPv4 address`;
    const guarded = backendAddressProblem(address, spec.port, this.#o.guard);
    if (guarded) return guarded;
    if (policy.ipAsBackend || policy.instanceIps.has(address)) return undefined;
    const inNetwork = policy.allowedNetworks.some((n) => {
      const c = parseCidr4(n);
      return c !== undefined && cidrContains(c, address);
    });
    return inNetwork
      ? undefined
      : `${address} is neither an inventory instance's IP nor inside the load balancer's allowed networks (${policy.allowedNetworks.join(', ') || 'none'})`;
  }

  /** Outcomes of every hostname server of the original snapshot. */
  #outcomes(now: number): Map<string, Outcome> {
    const out = new Map<string, Outcome>();
    if (!this.#original) return out;
    for (const s of hostnameServers(this.#original.servers).values()) out.set(s.id, this.#outcome(s, now));
    const discovered = this.#discover(now);
    for (const s of discovered.values()) {
      const b = this.#original.backends.get(s.backendId);
      const d = b && discoveryOf(b);
      const entry =
        d && this.#srv.get(srvKey(d))?.entries.find((e) => discoveredServerId(s.backendId, e.target, e.port) === s.id);
      out.set(s.id, { ...this.#outcome(s, now, entry?.addresses ?? []), spec: s });
    }
    return out;
  }

  #changed(next: Map<string, Outcome>): boolean {
    if (next.size !== this.#applied.size) return true;
    for (const [id, o] of next) {
      const a = this.#applied.get(id);
      if (!a || a.address !== o.address || a.problem !== o.problem) return true;
      if (
        o.spec &&
        (a.spec?.weight !== o.spec.weight || a.spec?.passive !== o.spec.passive || a.spec?.enabled !== o.spec.enabled)
      )
        return true;
    }
    return false;
  }

  /** Applies the original snapshot rewritten with the outcomes now; one at a time, the last wins. */
  #reapply(): Promise<void> {
    this.#pending = true;
    this.#chain = this.#chain.then(async () => {
      if (!this.#pending || !this.#original || this.#stopped) return;
      this.#pending = false;
      const now = this.#clock.now();
      const outcomes = this.#outcomes(now);
      const rt = this.#o.runtime;
      // Servers losing their address stop taking traffic before the plane changes.
      for (const [id, o] of outcomes) {
        const r = rt.servers.get(id);
        if (r && o.problem !== null) this.#setProblem(r, o.problem);
      }
      this.#log(outcomes);
      this.#applied = outcomes;
      this.#discovered = new Map([...outcomes].flatMap(([id, o]) => (o.spec ? [[id, o.spec] as const] : [])));
      await this.#o.apply(rewrite(this.#original, outcomes));
      for (const r of rt.servers.values()) this.#setProblem(r, outcomes.get(r.id)?.problem ?? null);
    });
    return this.#chain;
  }

  #setProblem(r: ServerRuntime, problem: string | null): void {
    if (r.dnsProblem === problem) return;
    r.dnsProblem = problem;
    this.#o.runtime.invalidate(r);
  }

  /** Logs each changed outcome and records it as a `dns` event (from/to: the address; reason: null or the problem). */
  #log(next: Map<string, Outcome>): void {
    const log = this.#o.log;
    for (const [id, o] of next) {
      const before = this.#applied.get(id);
      if (before && before.address === o.address && before.problem === o.problem) continue;
      const spec = o.spec ?? this.#original?.servers.get(id);
      const name = spec?.address;
      if (o.problem === null) log?.info({ serverId: id, name, address: o.address }, 'server host name resolved');
      else
        log?.warn(
          { serverId: id, name, reason: o.problem, message: o.message },
          'server host name has no usable address',
        );
      // The first pending state of a new name is no news.
      if (!before && o.problem === 'dns-pending') continue;
      this.#o.runtime.emit({
        kind: 'dns',
        loadBalancerId: spec?.loadBalancerId ?? null,
        backendId: spec?.backendId ?? null,
        serverId: id,
        from: before?.address ?? null,
        to: o.address,
        reason: o.problem,
        detail: { name, ...(o.message ? { message: o.message } : {}) },
      });
    }
  }

  #tick(): void {
    // Nothing by name: no work on the event loop (most configurations).
    if (this.#stopped || (this.#names.size === 0 && this.#srv.size === 0 && this.#applied.size === 0)) return;
    const now = this.#clock.now();
    const minMs = (this.#o.minTtlSeconds ?? 5) * 1000;
    for (const st of this.#names.values()) {
      if (st.inflight) continue;
      if (now >= st.nextAt || (now - st.lastAt >= minMs && this.#failing(st.name))) this.#resolve(st);
    }
    for (const st of this.#srv.values()) if (!st.inflight && now >= st.nextAt) this.#resolveSrv(st);
    // Hold times running out, load balancer rules changed since the last apply.
    if (this.#original && this.#changed(this.#outcomes(now))) void this.#reapply().catch(() => {});
  }

  /** True while a server of this name fails its checks or its connections (re-resolve early). */
  #failing(name: string): boolean {
    for (const id of this.#applied.keys()) {
      const spec = this.#original?.servers.get(id);
      if (spec?.address !== name) continue;
      const r = this.#o.runtime.servers.get(id);
      if (r && (r.health === 'unhealthy' || r.consecutiveFailures > 0)) return true;
    }
    return false;
  }

  #resolve(st: NameState): void {
    const now = this.#clock.now();
    st.inflight = true;
    st.lastAt = now;
    const minS = this.#o.minTtlSeconds ?? 5;
    const maxS = this.#o.maxTtlSeconds ?? 300;
    this.#resolver.resolve4(st.name, { ttl: true }).then(
      (records) => {
        st.inflight = false;
        if (this.#stopped || this.#names.get(st.name) !== st) return;
        const ttl = Math.min(maxS, Math.max(minS, Math.min(...records.map((r) => r.ttl), maxS)));
        st.addresses = records.map((r) => r.address);
        st.goodAt = this.#clock.now();
        st.error = null;
        st.nextAt = st.goodAt + ttl * 1000;
        if (this.#changed(this.#outcomes(st.goodAt))) void this.#reapply().catch(() => {});
      },
      (err: NodeJS.ErrnoException) => {
        st.inflight = false;
        if (this.#stopped || this.#names.get(st.name) !== st) return;
        st.error = `${err.code ?? 'error'}: ${err.message}`;
        st.nextAt = this.#clock.now() + minS * 1000;
        if (this.#changed(this.#outcomes(this.#clock.now()))) void this.#reapply().catch(() => {});
      },
    );
  }
}

const hostnamed = new WeakMap<ReadonlyMap<string, ServerSpec>, ReadonlyMap<string, ServerSpec>>();

/**
 * The servers of a snapshot's map whose address is a host name (not an inventory instance's),
 * by id; cached per map. A LayeredMap's answer is its base's (computed once) with its layers
 * applied, so a change at 10,000 servers does not test every address again (issue 13 point 4).
 */
export function hostnameServers(servers: ReadonlyMap<string, ServerSpec>): ReadonlyMap<string, ServerSpec> {
  const known = hostnamed.get(servers);
  if (known) return known;
  const named = (s: ServerSpec | undefined): s is ServerSpec =>
    s !== undefined && s.instanceId === null && isNameAddress(s.address);
  const out = new Map<string, ServerSpec>();
  if (servers instanceof LayeredMap) {
    for (const [id, s] of hostnameServers(servers.base)) out.set(id, s);
    for (const id of servers.layerKeys()) {
      out.delete(id);
      const s = servers.get(id);
      if (named(s)) out.set(id, s);
    }
  } else {
    for (const [id, s] of servers) if (named(s)) out.set(id, s);
  }
  hostnamed.set(servers, out);
  return out;
}

/** The snapshot with each hostname server's address (and endpoint) replaced by its outcome's. */
export function rewrite(snapshot: Snapshot, outcomes: ReadonlyMap<string, Outcome>): Snapshot {
  if (outcomes.size === 0) return snapshot;
  const resolved = (s: ServerSpec, o: Outcome | undefined): ServerSpec =>
    !o || o.address === null
      ? s
      : Object.freeze({ ...s, address: o.address, host: s.address, endpoint: endpointOf(o.address, s.port) });
  const servers = new Map<string, ServerSpec>();
  for (const [id, s] of snapshot.servers) servers.set(id, resolved(s, outcomes.get(id)));
  const added = new Map<string, ServerSpec[]>();
  for (const [id, o] of outcomes) {
    if (!o.spec || servers.has(id)) continue;
    const spec = resolved(Object.freeze(o.spec), o);
    servers.set(id, spec);
    let list = added.get(spec.backendId);
    if (!list) added.set(spec.backendId, (list = []));
    list.push(spec);
  }
  const backends = new Map<string, BackendSpec>();
  for (const [id, b] of snapshot.backends) {
    const more = added.get(id) ?? [];
    if (more.length === 0 && !b.servers.some((s) => outcomes.has(s.id))) backends.set(id, b);
    else {
      const list = [...b.servers.map((s) => servers.get(s.id) ?? s), ...more];
      backends.set(id, Object.freeze({ ...b, servers: Object.freeze(list) as ServerSpec[] }));
    }
  }
  return Object.freeze({ ...snapshot, servers, backends });
}

function srvKey(d: DiscoverySource): string {
  return `${d.resolver ?? ''}|${d.name.toLowerCase()}`;
}
