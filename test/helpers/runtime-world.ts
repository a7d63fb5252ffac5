// A runtime on a FakeClock for the unit tests beside src/ (health, outlier, slow start), and
// their configuration: the harness's builders (./plane.ts) with health checks on.
import { createBalancer } from '../../src/balancer/registry.ts';
import type { Backend, ConfigState, Server } from '../../src/config/model.ts';
import { compile, type Snapshot } from '../../src/config/snapshot.ts';
import { FakeClock } from '../../src/core/clock.ts';
import type { FulcrumEvent } from '../../src/runtime/events.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { backend, baseConfig, server } from './plane.ts';

/** A configuration with load balancer `lb1` and one backend `b1` of the given mode, checks on. */
export function config(over: Partial<Backend> = {}, mode: Backend['mode'] = 'tcp'): ConfigState {
  const b = backend('b1', mode);
  b.healthCheck.enabled = true;
  const c = baseConfig({ allowedNetworks: [], ipAsBackend: true, maxServers: 5000 });
  c.backends.push({ ...b, ...over });
  return c;
}

/** A server of backend `b1` on 127.0.0.1. */
export function srv(id: string, port: number, over: Partial<Server> = {}): Server {
  return server(id, 'b1', port, { serverType: 'other', ...over });
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
