// Benchmark (not a test), issue 13 point 4: the steps of a one-server change at 10 and at
// 10,000 servers, timed alone in this process: the incremental compile (primary), and the
// snapshot delta encoded and copied (primary, as postMessage copies it) and decoded (each worker), the runtime's reconcile and the
// first pick after it (which rebuilds the backend's eligible list). Medians of CHANGES changes, a
// chain where each change builds on the last snapshot, as in the control plane.
//
//   npm run bench:change      (STEPS_CHANGES, STEPS_SERVERS)
import { performance } from 'node:perf_hooks';
import { createBalancer } from '../src/balancer/registry.ts';
import { shallowDraft, touched } from '../src/config/changes.ts';
import { compileChange } from '../src/config/compile-incremental.ts';
import type { ConfigState } from '../src/config/model.ts';
import { compile, type Snapshot } from '../src/config/snapshot.ts';
import { Runtime } from '../src/runtime/runtime.ts';
import { decodeDelta, encodeDelta } from '../src/workers/snapshot-wire.ts';
import { backend, baseConfig, frontend, server } from '../test/helpers/plane.ts';

const CHANGES = Number(process.env.STEPS_CHANGES ?? 300);
const LARGE = Number(process.env.STEPS_SERVERS ?? 10_000);

function state(n: number): ConfigState {
  const c = baseConfig({ allowedNetworks: ['10.0.0.0/8'], maxServers: n + 10 });
  c.backends.push(backend('b', 'http', { port: 80 }));
  for (let i = 0; i < n; i++)
    c.servers.push(server(`s${i}`, 'b', 80, { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));
  c.frontends.push(frontend('fe', 'http', 8080, 'b'));
  c.version = 1;
  return c;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

type Steps = { compile: number; encode: number; decode: number; reconcile: number; pick: number };

function run(n: number): Steps {
  let st = state(n);
  let primary: Snapshot = compile(st);
  let worker = decodeDelta(undefined, structuredClone(encodeDelta(undefined, primary)));
  const runtime = new Runtime(createBalancer);
  runtime.reconcile(worker);
  const times = { compile: [], encode: [], decode: [], reconcile: [], pick: [] } as Record<keyof Steps, number[]>;
  for (let k = 0; k < CHANGES; k++) {
    const after = shallowDraft(st);
    const i = k % n;
    after.servers[i] = { ...after.servers[i]!, weight: 1 + (k % 100) };
    after.version = st.version + 1;
    const t0 = performance.now();
    const next = compileChange(st, primary, after, touched(st, after));
    const t1 = performance.now();
    if (!next) throw new Error('not an incremental change');
    // Encoded and copied as postMessage copies it.
    const copy = structuredClone(encodeDelta(primary, next));
    const t3 = performance.now();
    worker = decodeDelta(worker, copy);
    const t4 = performance.now();
    runtime.reconcile(worker);
    const t5 = performance.now();
    runtime.backends.get('b')?.balancer.pick({});
    const t6 = performance.now();
    times.reconcile.push(t5 - t4);
    times.pick.push(t6 - t5);
    times.compile.push(t1 - t0);
    times.encode.push(t3 - t1);
    times.decode.push(t4 - t3);
    primary = next;
    st = after;
  }
  return {
    compile: median(times.compile),
    encode: median(times.encode),
    decode: median(times.decode),
    reconcile: median(times.reconcile),
    pick: median(times.pick),
  };
}

run(10);
const small = run(10);
const large = run(LARGE);
console.log(`one-server change, ms (median of ${CHANGES})`);
for (const k of ['compile', 'encode', 'decode', 'reconcile', 'pick'] as const) {
  console.log(
    `${k.padEnd(9)} 10: ${small[k].toFixed(3)}   ${LARGE}: ${large[k].toFixed(3)}   ratio ${(large[k] / small[k]).toFixed(1)} ×`,
  );
}
