/**
 * Shapes of the public API (/work/shared/API.md) as the console reads them, taken from the
 * server's own types so they cannot drift: the stored resources from `src/config/model.ts`,
 * the answers with their live `status` from the functions that build them
 * (`src/control/views.ts`), certificates from `src/certificates/service.ts`, lookup rows from
 * `src/control/control-plane.ts`, events from `src/store/types.ts` and nodes from
 * `src/control/cluster.ts`; Explain's answer from `src/runtime/explain.ts`.
 *
 * Every import here is `import type`: it is erased at build time, so no server code reaches
 * the console bundle.
 */
import type { CertificateView } from '../../../src/certificates/service.ts';
import type { NodeView as ClusterNode } from '../../../src/control/cluster.ts';
import type { ServerLookup } from '../../../src/control/control-plane.ts';
import type { backendView, frontendView, serverView } from '../../../src/control/views.ts';
import type { StoredEvent } from '../../../src/store/types.ts';

/** The stored resources (`Stored*`: what a form edits, without the live `status` the API adds) and their enums. */
export type {
  Algorithm,
  Backend as StoredBackend,
  Frontend as StoredFrontend,
  HealthCheckType,
  Instance,
  LoadBalancer,
  Mode,
  Protocol,
  Server as StoredServer,
  ServerType,
} from '../../../src/config/model.ts';

/** A server as the API answers it: the stored server plus its live `status` (health, state, slow start). */
export type Server = ReturnType<typeof serverView>;

/** A backend as the API answers it: the stored backend plus `status` (per-zone health and warnings). */
export type Backend = ReturnType<typeof backendView>;

/** A frontend as the API answers it: the stored frontend plus `status: { listening, reason }`. */
export type Frontend = ReturnType<typeof frontendView>;

/** An uploaded certificate as the API lists it; the private key never comes back. */
export type Certificate = CertificateView;

/** One row of the lookup answer (`GET /servers?address=…`); its server carries its live status. */
export type LookupHit = Omit<ServerLookup, 'server'> & { server: Server };

/** An event as the list and the live stream send it (health transitions, drains, changes), with its id. */
export type FulcrumEvent = StoredEvent;

/** Explain's answer (`GET /frontends|backends/{id}/explain`, issue 16): routing, persistence, servers, next. */
export type {
  CandidateView,
  Explanation,
  RuleTrial,
  ServerExplanation,
} from '../../../src/runtime/explain.ts';

/** A node sharing the store as `GET /nodes` lists it: name, applied version, last heartbeat, `live` or `stale`. */
export type NodeView = ClusterNode;
