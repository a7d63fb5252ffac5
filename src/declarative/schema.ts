import type { TSchema } from 'typebox';
import {
  BackendCreate,
  FrontendCreate,
  IdSchema,
  InstanceCreate,
  LoadBalancerCreate,
  NameSchema,
  ServerCreate,
} from '../config/schemas.ts';

/**
 * JSON Schema of the declarative configuration file (API.md "Appendix: declarative
 * configuration file", SPEC C4), built from the API's own create schemas (config/schemas.ts)
 * so every API field is accepted with the API's name and rules. Differences from the API:
 * - resources nest (`loadBalancers[].backends[].servers[]`, `loadBalancers[].frontends[]`)
 *   and never carry their parent's id (`loadBalancerId`, `backendId`);
 * - references may name a resource instead of giving its id: a frontend's `backend:`
 *   (instead of `defaultBackendId`), a rule's or SNI rule's `backend:` (instead of `backendId`),
 *   a server's `instance:` (instead of `instanceId`), a frontend's `certificates: [name]`
 *   (instead of `certificateIds`), `caCertificate:` on a server and in a backend's `tls`
 *   (instead of `caCertificateId`).
 * Unknown keys are refused at every depth (`additionalProperties: false`).
 */

type Json = Record<string, unknown>;

function props(schema: TSchema): Record<string, Json> {
  return { ...((schema as unknown as Json).properties as Record<string, Json>) };
}

function object(properties: Record<string, Json>, required: string[]): Json {
  return { type: 'object', properties, required, additionalProperties: false };
}

function array(items: Json, maxItems = 10_000): Json {
  return { type: 'array', items, maxItems };
}

const nameRef = NameSchema as unknown as Json;
const nullableName: Json = { anyOf: [nameRef, { type: 'null' }] };

/** A routing rule or SNI rule: `backendId` made optional and `backend` (a name) added. */
function withBackendRef(rule: Json): Json {
  const p = { ...(rule.properties as Record<string, Json>), backend: nameRef };
  return { ...rule, properties: p, required: ((rule.required as string[]) ?? []).filter((k) => k !== 'backendId') };
}

function serverSchema(): Json {
  const p = props(ServerCreate);
  return object({ ...p, instance: nameRef, caCertificate: nullableName }, ['name']);
}

function backendSchema(): Json {
  const p = props(BackendCreate);
  delete p.loadBalancerId;
  const tls = p.tls as Json;
  p.tls = { ...tls, properties: { ...(tls.properties as Json), caCertificate: nullableName } };
  return object({ ...p, servers: array(serverSchema()) }, ['name', 'mode']);
}

function frontendSchema(): Json {
  const p = props(FrontendCreate);
  delete p.loadBalancerId;
  const rules = p.rules as Json;
  p.rules = { ...rules, items: withBackendRef(rules.items as Json) };
  const sni = p.sniRules as Json;
  p.sniRules = { ...sni, items: withBackendRef(sni.items as Json) };
  return object(
    {
      ...p,
      defaultBackendId: { anyOf: [IdSchema as unknown as Json, { type: 'null' }] },
      backend: nullableName,
      certificates: array(nameRef, 64),
    },
    ['name', 'protocol', 'port'],
  );
}

function loadBalancerSchema(): Json {
  return object(
    { ...props(LoadBalancerCreate), backends: array(backendSchema()), frontends: array(frontendSchema()) },
    ['name'],
  );
}

/** The whole file: `{ instances?: [...], loadBalancers?: [...] }`. */
export const DeclarativeFileSchema: TSchema = object(
  {
    instances: array(object(props(InstanceCreate), ['name', 'privateIp'])),
    loadBalancers: array(loadBalancerSchema()),
  },
  [],
) as unknown as TSchema;
