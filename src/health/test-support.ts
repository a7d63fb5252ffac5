// Builders shared by the health unit tests (not used at run time).
import { createBalancer } from '../balancer/registry.ts';
import { defaultBackend } from '../config/defaults.ts';
import type { Backend, ConfigState, Server } from '../config/model.ts';
import { compile, type Snapshot } from '../config/snapshot.ts';
import { FakeClock } from '../core/clock.ts';
import type { FulcrumEvent } from '../runtime/events.ts';
import { Runtime } from '../runtime/runtime.ts';

/** A configuration with load balancer `lb1` and one backend `b1` of the given mode, checks on. */
export function config(over: Partial<Backend> = {}, mode: Backend['mode'] = 'tcp'): ConfigState {
  const b = { ...defaultBackend('b1', 'lb1', 'b1', mode), ...over };
  return {
    version: 1,
    loadBalancers: [
      { id: 'lb1', name: 'lb1', description: '', allowedNetworks: [], ipAsBackend: true, maxServers: 5000 },
    ],
    frontends: [],
    backends: [b],
    servers: [],
    instances: [],
    certificates: [],
  };
}

/** A server of backend `b1` on 127.0.0.1. */
export function srv(id: string, port: number, over: Partial<Server> = {}): Server {
  return {
    id,
    backendId: 'b1',
    name: id,
    serverType: 'other',
    instanceId: null,
    address: '127.0.0.1',
    port,
    weight: 1,
    zone: null,
    passive: false,
    sslOffload: false,
    caCertificateId: null,
    enabled: true,
    ...over,
  };
}

/** A runtime on a FakeClock that records its events; `apply` compiles and reconciles (bumping the version). */
export function world(): {
  clock: FakeClock;
  runtime: Runtime;
  events: FulcrumEvent[];
  apply(c: ConfigState): Snapshot;
} {
  const clock = new FakeClock();
  const events: FulcrumEvent[] = [];
  const runtime = new Runtime(createBalancer, { clock, events: (e) => events.push(e) });
  let version = 0;
  return {
    clock,
    runtime,
    events,
    apply(c) {
      const snap = compile(structuredClone({ ...c, version: ++version }));
      runtime.reconcile(snap);
      return snap;
    },
  };
}

/** Lets pending promise callbacks (probe results) run. */
export function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
