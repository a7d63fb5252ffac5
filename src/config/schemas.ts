import { type TSchema, Type } from 'typebox';
import { Algorithms, HealthCheckTypes, Modes, PersistenceTypes, Protocols, ServerTypes } from './model.ts';

/**
 * JSON Schemas (TypeBox) of every resource of API.md: one source for the API's input
 * validation, the OpenAPI document, the console's forms and the docs (DESIGN.md layout).
 *
 * Each resource has three shapes built from one field list:
 * - `…Resource`: the full document as the API answers it (every field present);
 * - `…Create`: the POST body (only identity fields required; defaults fill the rest);
 * - `…Patch`: the PATCH body (every field optional, nested objects merge field by field).
 *
 * A schema may carry `x-rule`, the human rule the API prints when a value breaks it
 * (e.g. `must be a list of codes and ranges such as "200,204,300-399"`).
 */

/** Integer in [min, max]. */
export function int(minimum: number, maximum: number, extra: Record<string, unknown> = {}): TSchema {
  return Type.Integer({ minimum, maximum, ...extra });
}

function oneOf(values: readonly string[], extra: Record<string, unknown> = {}): TSchema {
  return Type.String({ enum: [...values], ...extra });
}

function nullable(s: TSchema): TSchema {
  return Type.Union([s, Type.Null()]);
}

/**
 * A server tag (issue 15 point 5): `key` or `key=value`; the key starts with a letter or digit
 * and holds letters, digits and `._/-`; the value holds letters, digits and `._:/@+-`. No
 * spaces, no control characters, at most 64 characters.
 */
export const TagSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*(=[A-Za-z0-9._:/@+-]*)?$',
  'x-rule':
    'must be "key" or "key=value" (at most 64 characters; key: letters, digits and ._/- starting with a letter or digit; value: letters, digits and ._:/@+-)',
});

/** Names (S1): 1–64 characters. Uniqueness and the name rule are semantic (validate.ts, names.ts). */
export const NameSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  description:
    'unique name, 1–64 characters, stored in Unicode NFC; no control, bidi or zero-width characters, no leading or trailing whitespace, no "/"',
});
export const IdSchema = Type.String({ minLength: 1, maxLength: 64 });
export const PortSchema = int(1, 65535, { description: 'TCP/UDP port (1–65535)' });
export const ProtocolSchema = oneOf(Protocols);
export const ModeSchema = oneOf(Modes);
export const AlgorithmSchema = oneOf(Algorithms);
export const ServerTypeSchema = oneOf(ServerTypes);

/** Builds an object schema; `required` lists the required keys; unknown keys are refused. */
function obj(properties: Record<string, TSchema>, required: readonly string[], extra: Record<string, unknown> = {}) {
  return Type.Object(
    Object.fromEntries(
      Object.entries(properties).map(([k, v]) => [k, required.includes(k) ? v : Type.Optional(v)]),
    ) as Record<string, TSchema>,
    { additionalProperties: false, ...extra },
  );
}

/** Full object: every key required. */
function full(
  properties: Record<string, TSchema>,
  optional: readonly string[] = [],
  extra: Record<string, unknown> = {},
) {
  return obj(
    properties,
    Object.keys(properties).filter((k) => !optional.includes(k)),
    extra,
  );
}

/**
 * Deep partial of a plain JSON schema: drops `required` on every nested object (also
 * inside `anyOf` nullable objects), so a PATCH may give any subset at any depth.
 */
export function deepPartial(schema: TSchema): TSchema {
  const s = schema as Record<string, unknown>;
  const out: Record<string, unknown> = { ...s };
  if (s.type === 'object' && s.properties) {
    delete out.required;
    out.properties = Object.fromEntries(
      Object.entries(s.properties as Record<string, TSchema>).map(([k, v]) => [k, deepPartial(v)]),
    );
  }
  if (Array.isArray(s.anyOf)) out.anyOf = (s.anyOf as TSchema[]).map(deepPartial);
  return out as TSchema;
}

// ---------- nested settings ----------

const frontendTimeoutsFields = {
  requestHeaderSeconds: int(1, 3600),
  clientIdleSeconds: int(1, 86400),
  requestBodySeconds: int(1, 3600, {
    description: 'HTTP: idle time between request body bytes before 408 (default 30)',
  }),
};
const routingRuleFields = {
  match: obj(
    {
      host: Type.String({ minLength: 1, maxLength: 253 }),
      pathPrefix: Type.String({ minLength: 1, maxLength: 2048, pattern: '^/', 'x-rule': 'must start with /' }),
      path: Type.String({ minLength: 1, maxLength: 2048, pattern: '^/', 'x-rule': 'must start with /' }),
      header: full({ name: Type.String({ minLength: 1, maxLength: 256 }), value: Type.String({ maxLength: 4096 }) }),
      method: Type.String({ minLength: 1, maxLength: 16 }),
    },
    [],
  ),
  backendId: IdSchema,
};
const sniRuleFields = { serverName: Type.String({ minLength: 1, maxLength: 253 }), backendId: IdSchema };

const httpCheckFields = {
  method: Type.String({ minLength: 1, maxLength: 16 }),
  path: Type.String({ minLength: 1, maxLength: 2048, pattern: '^/', 'x-rule': 'must start with /' }),
  host: Type.String({ minLength: 1, maxLength: 253 }),
  // The grammar (codes 100–599, ascending ranges) is config/expected-codes.ts, checked by validate.ts.
  expectedCodes: Type.String({
    minLength: 1,
    maxLength: 1024,
    description: 'status codes and ranges such as "200", "200,204" or "200-299,302" (100–599)',
  }),
  expectBody: Type.String({ maxLength: 1024 }),
};
const healthCheckFields = {
  enabled: Type.Boolean(),
  type: oneOf(HealthCheckTypes),
  port: nullable(PortSchema),
  intervalSeconds: int(1, 300),
  timeoutSeconds: int(1, 300, { 'x-rule': 'must be an integer from 1 to intervalSeconds' }),
  rise: int(1, 100),
  fall: int(1, 100),
  http: full(httpCheckFields, ['host', 'expectBody']),
  mysql: full({ user: Type.String({ minLength: 1, maxLength: 64 }) }),
  postgres: full({ user: Type.String({ minLength: 1, maxLength: 64 }), database: Type.String({ maxLength: 64 }) }),
  udp: full({ send: Type.String({ maxLength: 1024 }), expect: Type.String({ maxLength: 1024 }) }, ['expect']),
  proxyProtocol: Type.Boolean({
    description:
      "send the backend's PROXY header (LOCAL / UNKNOWN: no client) before the check, for servers that require it (default false)",
  }),
};
const persistenceFields = {
  type: oneOf(PersistenceTypes),
  cookieName: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
    'x-rule': 'must be a cookie name (RFC 6265 token characters)',
  }),
  timeoutSeconds: int(0, 31_536_000),
};
const slowStartFields = { enabled: Type.Boolean(), durationSeconds: int(30, 1200) };
const backendTlsFields = {
  enabled: Type.Boolean(),
  caCertificateId: nullable(IdSchema),
  sni: nullable(Type.String({ minLength: 1, maxLength: 253 })),
  verify: Type.Boolean(),
};
const outlierFields = {
  enabled: Type.Boolean(),
  consecutiveFailures: int(1, 1000),
  baseEjectionSeconds: int(1, 3600),
  maxEjectionSeconds: int(1, 86400),
  maxEjectionPercent: int(0, 100),
};
const backendTimeoutsFields = { connectSeconds: int(1, 300), responseSeconds: int(1, 86400) };
const queueFields = {
  maxLength: int(0, 1_000_000, {
    description:
      'requests (tcp: connections) that may wait when every server is at its maxConnections; 0 = no queue (503 / close at once)',
  }),
  timeoutSeconds: int(1, 3600, {
    description: 'longest wait in the queue before 503 (tcp: close), reason queue-timeout',
  }),
};

export const HealthCheckSchema = full(healthCheckFields, ['http', 'mysql', 'postgres', 'udp', 'proxyProtocol']);
export const PersistenceSchema = full(persistenceFields, ['cookieName']);

// ---------- resources ----------

const loadBalancerFields = {
  name: NameSchema,
  description: Type.String({ maxLength: 1024 }),
  allowedNetworks: Type.Array(Type.String({ 'x-rule': 'must be an IPv4 CIDR such as 10.0.0.0/8' }), { maxItems: 256 }),
  ipAsBackend: Type.Boolean(),
  maxServers: int(1, 100_000),
};

const frontendFields = {
  loadBalancerId: IdSchema,
  name: NameSchema,
  protocol: ProtocolSchema,
  bindAddress: Type.String({
    minLength: 2,
    maxLength: 64,
    'x-rule': 'must be an IPv4 or IPv6 address',
    description: "address to listen on; with port, never the admin API's own address and port (409)",
  }),
  port: PortSchema,
  defaultBackendId: nullable(IdSchema),
  certificateIds: Type.Array(IdSchema, { maxItems: 64 }),
  enabled: Type.Boolean(),
  timeouts: full(frontendTimeoutsFields, ['requestBodySeconds']),
  maxConnections: int(0, 10_000_000),
  rules: Type.Array(full(routingRuleFields), { maxItems: 1000 }),
  tlsPassthrough: Type.Boolean(),
  sniRules: Type.Array(full(sniRuleFields), { maxItems: 1000 }),
  redirectToHttps: Type.Boolean({ description: 'http only: redirect every request to the https twin (308)' }),
  trustedProxies: Type.Array(
    Type.String({ minLength: 2, maxLength: 64, 'x-rule': 'must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8' }),
    {
      maxItems: 256,
      description:
        'HTTP: proxies whose X-Forwarded-For/Forwarded/X-Real-IP are kept; with acceptProxyProtocol, the only sources allowed, each sending a PROXY header (default none)',
    },
  ),
  acceptProxyProtocol: Type.Boolean({
    description:
      'http, https, tcp: every connection starts with a PROXY protocol header (v1 or v2) from one of trustedProxies, whose address becomes the client address; others are closed (reason bad-request). Default false',
  }),
  allowedUpgrades: Type.Array(
    Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+(/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?$",
    }),
    {
      maxItems: 16,
      description: 'HTTP: Upgrade protocols tunnelled after a matching 101 (default ["websocket"]; h2c never)',
    },
  ),
  mergeSlashes: Type.Boolean({ description: 'HTTP: merge duplicate slashes in the path (default true)' }),
  maxRequestBodyBytes: int(0, Number.MAX_SAFE_INTEGER, {
    description: 'HTTP: largest request body, 413 above (default 0 = unlimited)',
  }),
  minRequestBodyBytesPerSecond: int(0, 1_000_000_000, {
    description: 'HTTP: slowest request body in bytes/s, 408 below (default 0 = off)',
  }),
};
/** Frontend fields added in the second wave (optional in stored documents; defaults in snapshot.ts). */
const frontendOptional = [
  'trustedProxies',
  'acceptProxyProtocol',
  'allowedUpgrades',
  'mergeSlashes',
  'maxRequestBodyBytes',
  'minRequestBodyBytesPerSecond',
];

const backendFields = {
  loadBalancerId: IdSchema,
  name: NameSchema,
  mode: ModeSchema,
  algorithm: AlgorithmSchema,
  port: nullable(PortSchema),
  persistence: PersistenceSchema,
  healthCheck: HealthCheckSchema,
  slowStart: full(slowStartFields),
  tls: full(backendTlsFields),
  drainTimeoutSeconds: int(0, 3600),
  timeouts: full(backendTimeoutsFields),
  udpTimeoutSeconds: int(1, 3600),
  maxFlows: int(1, 10_000_000),
  outlierDetection: full(outlierFields),
  retries: int(0, 10, { description: 'HTTP: attempts on other servers for a request no server has seen (default 2)' }),
  queue: full(queueFields, ['timeoutSeconds'], {
    description:
      'FIFO queue for when every eligible server is at its maxConnections (default { maxLength: 0 (off), timeoutSeconds: 10 })',
  }),
  proxyProtocol: nullable(
    oneOf(['v1', 'v2'], {
      description:
        "tcp, http: send a PROXY protocol header (v1 text, v2 binary) first on each server connection, carrying the client's address; HTTP connections to such servers are not pooled across clients (default null = off)",
    }),
  ),
  discovery: nullable(
    full(
      {
        type: oneOf(['dns-srv']),
        name: Type.String({
          minLength: 1,
          maxLength: 254,
          'x-rule': 'must be an SRV name such as _http._tcp.api.internal',
        }),
        resolver: nullable(Type.String({ maxLength: 64, 'x-rule': 'must be IP:port such as 10.0.0.2:53' })),
        overrides: Type.Record(
          Type.String({ minLength: 1, maxLength: 64 }),
          full({ weight: int(0, 100), enabled: Type.Boolean() }, ['weight', 'enabled']),
          {
            maxProperties: 10_000,
            description:
              'by discovered server id: weight in place of the SRV weight, enabled false (disabled, drained); set through the server routes',
          },
        ),
      },
      ['resolver', 'overrides'],
      {
        description:
          "servers discovered from DNS SRV records (issue 15 point 2): one server per record (target's A address, the record's port and weight, backups for higher priorities), followed as the records change (removed ones drain); listed with discovered: true. resolver: this source's DNS server, else fulcrum serve --resolver (default null = none)",
      },
    ),
  ),
};

const serverFields = {
  name: NameSchema,
  serverType: ServerTypeSchema,
  instanceId: nullable(IdSchema),
  address: Type.String({
    minLength: 1,
    maxLength: 254,
    'x-rule': 'must be an IPv4 address or a host name',
    description:
      "IPv4 dotted quad (10.0.0.11) or host name (api-1.internal, RFC 1123, at most 253 characters: resolved off the request path at the record's TTL, 5–300 s, every resolved address checked like a literal one; status reason dns-pending, dns-failed or dns-refused); never unspecified, link-local, multicast, reserved/broadcast or cloud metadata (409; --allow-backend-networks lifts this at start), nor the admin API's own address and port",
  }),
  port: nullable(PortSchema),
  weight: int(0, 100),
  maxConnections: int(0, 10_000_000, {
    description:
      'concurrent requests (tcp: connections) this server takes on this node; at the limit it is not picked and new ones wait in the backend queue (default 0 = unlimited)',
  }),
  zone: nullable(Type.String({ minLength: 1, maxLength: 64 })),
  passive: Type.Boolean(),
  sslOffload: Type.Boolean(),
  caCertificateId: nullable(IdSchema),
  enabled: Type.Boolean(),
  description: Type.String({
    maxLength: 1024,
    pattern: '^[^\\u0000-\\u001f\\u007f]*$',
    'x-rule': 'must be at most 1024 characters without control characters',
    description: 'free text for people (default "")',
  }),
  tags: Type.Array(TagSchema, {
    maxItems: 32,
    uniqueItems: true,
    description: 'labels such as ["env=prod", "canary"] (at most 32, no duplicates); filter with ?tag=',
  }),
  healthCheck: obj(
    {
      port: nullable(PortSchema),
      enabled: Type.Boolean(),
    },
    [],
    {
      description:
        "per-server overrides of the backend's health check: `port` (null = the backend check's port or the server's), `enabled: false` to never check this server (it counts as healthy)",
    },
  ),
};
/** Server fields added in the second wave (optional in stored documents; defaults in resources.ts and views). */
const serverOptional = ['description', 'tags', 'healthCheck', 'maxConnections'];

const instanceFields = {
  name: NameSchema,
  privateIp: Type.String({
    minLength: 2,
    maxLength: 64,
    'x-rule': 'must be an IPv4 or IPv6 address',
    description:
      'IPv4 dotted quad or IPv6; never unspecified, link-local, multicast, reserved/broadcast or cloud metadata, in any spelling (409; --allow-backend-networks lifts this at start)',
  }),
  zone: nullable(Type.String({ minLength: 1, maxLength: 64 })),
  os: nullable(Type.String({ minLength: 1, maxLength: 64 })),
  serverType: ServerTypeSchema,
};

function partialOf(fields: Record<string, TSchema>, omit: readonly string[] = []): TSchema {
  const f = Object.fromEntries(Object.entries(fields).filter(([k]) => !omit.includes(k)));
  return deepPartial(obj(f, []));
}
function createOf(fields: Record<string, TSchema>, required: readonly string[]): TSchema {
  const partial = deepPartial(obj(fields, [])) as Record<string, unknown>;
  return { ...partial, required: [...required] } as TSchema;
}

export const LoadBalancerCreate = createOf(loadBalancerFields, ['name']);
export const LoadBalancerPatch = partialOf(loadBalancerFields);
export const FrontendCreate = createOf(frontendFields, ['loadBalancerId', 'name', 'protocol', 'port']);
export const FrontendPatch = partialOf(frontendFields, ['loadBalancerId']);
export const BackendCreate = createOf(backendFields, ['loadBalancerId', 'name', 'mode']);
export const BackendPatch = partialOf(backendFields, ['loadBalancerId']);
export const ServerCreate = createOf(serverFields, ['name']);
export const ServerPatch = partialOf(serverFields);
export const InstanceCreate = createOf(instanceFields, ['name', 'privateIp']);
export const InstancePatch = partialOf(instanceFields);

const id = {
  id: Type.String({ readOnly: true }),
  version: Type.Integer({
    minimum: 1,
    readOnly: true,
    description: "the resource's version, also its ETag: 1 when created, + 1 on each change; send it as If-Match",
  }),
};
/** `version` is absent from documents answered before the store kept it. */
const idOptional = ['version'];

/** Live server status (API.md). */
export const ServerStatusSchema = Type.Object({
  health: oneOf(['unknown', 'healthy', 'unhealthy']),
  state: oneOf(['active', 'passive', 'slow-start', 'draining', 'disabled']),
  slowStartFactor: Type.Number({ minimum: 0, maximum: 1 }),
  activeConnections: Type.Integer({ description: 'open connections (while draining: those still to finish)' }),
  reason: nullable(Type.String({ description: 'stable code when out of rotation' })),
  expectedShare: Type.Number({
    minimum: 0,
    maximum: 1,
    description:
      "share of new requests this server gets now: its effective weight (slow start included) over the sum of the available servers' (passive servers 0 unless the passives are in use)",
  }),
  drainDeadline: nullable(
    Type.String({ description: 'while draining: when the connections still open are cut (ISO 8601)' }),
  ),
  lastCheck: nullable(
    Type.Object({ at: Type.String(), ok: Type.Boolean(), reason: Type.String(), latencyMs: Type.Number() }),
  ),
});

export const LoadBalancerResource = full({ ...id, ...loadBalancerFields }, idOptional);
export const FrontendResource = full(
  {
    ...id,
    ...frontendFields,
    status: Type.Object({ listening: Type.Boolean(), reason: nullable(Type.String()) }),
  },
  [...idOptional, ...frontendOptional],
);
export const BackendResource = full(
  {
    ...id,
    ...backendFields,
    status: Type.Object({
      zones: Type.Array(
        Type.Object({ zone: nullable(Type.String()), servers: Type.Integer(), healthy: Type.Integer() }),
      ),
      warnings: Type.Array(
        Type.Object({ code: Type.String(), message: Type.String(), zone: Type.Optional(Type.String()) }),
      ),
      servers: Type.Integer(),
      healthy: Type.Integer(),
    }),
  },
  [...idOptional, 'retries', 'queue', 'proxyProtocol', 'discovery'],
);
export const ServerResource = full(
  {
    ...id,
    backendId: IdSchema,
    ...serverFields,
    address: Type.String(),
    status: ServerStatusSchema,
    discovered: Type.Boolean({ description: "found by the backend's discovery source; read-only" }),
  },
  [...idOptional, ...serverOptional, 'discovered'],
);
export const InstanceResource = full({ ...id, ...instanceFields }, idOptional);

/** One problem of a refused request (API.md second wave). */
export const ErrorDetailSchema = Type.Object({
  field: Type.String({ description: 'the field at fault, e.g. healthCheck.timeoutSeconds' }),
  rule: Type.String({ description: 'the rule it breaks, in words' }),
  message: Type.String({ description: '`field: rule`' }),
  index: Type.Optional(Type.Integer({ description: 'the item of a batch' })),
});

/** The error body of every refusal (API.md "Conventions"); `field`/`message` are the first of `details`. */
export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
    currentVersion: Type.Optional(
      Type.Union([Type.Integer(), Type.Null()], {
        description: '412 precondition_failed: the version the resource is at now (null when deleted)',
      }),
    ),
    details: Type.Optional(
      Type.Array(ErrorDetailSchema, { description: 'every problem of the request, so it is fixed in one round' }),
    ),
  }),
});

/** A schema that lets unknown keys through at every depth (stored documents may carry more than a body). */
function loose(schema: TSchema): TSchema {
  const s = schema as Record<string, unknown>;
  const out: Record<string, unknown> = { ...s };
  delete out.additionalProperties;
  if (s.properties) {
    out.properties = Object.fromEntries(
      Object.entries(s.properties as Record<string, TSchema>).map(([k, v]) => [k, loose(v)]),
    );
  }
  if (s.items) out.items = loose(s.items as TSchema);
  if (Array.isArray(s.anyOf)) out.anyOf = (s.anyOf as TSchema[]).map(loose);
  return out as TSchema;
}

/**
 * The per-field rules config/validate.ts applies to a whole configuration (the API, a
 * declarative file, the CLI's preflight): every field present follows its rule of this file;
 * presence is the builders' job (defaults fill every field).
 */
export const StoredSchemas = {
  loadBalancer: loose(partialOf(loadBalancerFields)),
  frontend: loose(partialOf(frontendFields)),
  backend: loose(partialOf(backendFields)),
  server: loose(partialOf(serverFields)),
  instance: loose(partialOf(instanceFields)),
} as const;

/** Wraps a resource answer of a change with its configVersion (API.md). */
export function withVersion(schema: TSchema): TSchema {
  const s = schema as Record<string, unknown>;
  const props = { ...(s.properties as Record<string, TSchema>), configVersion: Type.Integer() };
  return { ...s, properties: props, required: [...((s.required as string[]) ?? []), 'configVersion'] } as TSchema;
}
