import type { ServerSpec, Snapshot } from '../config/snapshot.ts';
import type { Clock } from '../core/clock.ts';
import type { EventSink } from '../runtime/events.ts';
import type { Explainer } from '../runtime/explain.ts';

export type { Explainer, ExplainQuery, Explanation } from '../runtime/explain.ts';

import type { FrontendRuntime, ListenerStatus } from '../runtime/frontend-runtime.ts';
import type { BackendRuntime } from '../runtime/runtime.ts';
import type { ServerRuntime } from '../runtime/server-runtime.ts';

/** The part of the Runtime the control plane reads (live server state, balancers, events). */
export interface RuntimePort {
  readonly clock: Clock;
  /** Live state of a server, including one still draining after removal. */
  server(id: string): ServerRuntime | undefined;
  readonly backends: ReadonlyMap<string, BackendRuntime>;
  /** Servers deleted from the configuration that still drain (S3), by id. */
  readonly drainingRemoved: ReadonlyMap<string, ServerRuntime>;
  /** Where the runtime sends health, drain and ejection events. */
  setEventSink(sink: EventSink): void;
  /** A drain timeout for one action (`POST …/drain { timeoutSeconds }`, issue 15 point 5). */
  setDrainTimeout(id: string, timeoutMs: number | undefined): void;
}

/**
 * How the control plane reaches the data plane (DESIGN.md: "The API reaches the data plane
 * only through what main.ts passes it"). `src/dataplane/plane.ts`'s Plane satisfies it as is.
 */
export interface DataPlanePort {
  /** Applies a snapshot; resolves once new listeners have bound or failed (S2). */
  apply(snapshot: Snapshot): Promise<void>;
  /** Listening status of a frontend (F5); undefined when unknown. */
  status(frontendId: string): ListenerStatus | undefined;
  readonly runtime: RuntimePort;
  /** Live counters per frontend id (O1). */
  readonly counters: ReadonlyMap<string, FrontendRuntime>;
  /** Explain (issue 16): where a client's next request goes and why, without traffic; absent in bare test planes. */
  readonly explain?: Explainer;
  /** Servers a backend's discovery source found (issue 15 point 2, src/runtime/dns.ts); absent in bare test planes. */
  readonly discovered?: (backendId: string) => readonly ServerSpec[];
  /**
   * With worker threads (issue 13 point 1): collects every worker's counters into `counters`
   * and the runtime's servers, so a read that follows sees every request made before it.
   * Absent when the data plane runs in this thread (its counters are always current).
   */
  readonly refresh?: () => Promise<void>;
}
