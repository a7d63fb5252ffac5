import { parentPort, threadId, workerData } from 'node:worker_threads';
import { createBalancer } from '../balancer/registry.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { realClock } from '../core/clock.ts';
import { createLogger } from '../core/log.ts';
import type { AccessLog } from '../dataplane/access-log.ts';
import { listenerFactories } from '../dataplane/factories.ts';
import { Plane } from '../dataplane/plane.ts';
import { PersistenceManager } from '../persistence/choose.ts';
import { Runtime } from '../runtime/runtime.ts';
import { SharedCells } from '../runtime/shared-cells.ts';
import { CounterReporter } from './counters.ts';
import {
  applyServerState,
  type FromWorker,
  type ServerState,
  type StickyEntry,
  type ToWorker,
  type WorkerInit,
} from './protocol.ts';
import { decodeDelta } from './snapshot-wire.ts';

/**
 * One worker thread of `fulcrum serve --workers N` (issue 13 point 1): a data plane on every
 * frontend (SO_REUSEPORT, so the kernel spreads connections over the workers), fed by the
 * primary's snapshots and server states, reporting counters, passive-health outcomes and
 * access-log lines back. Nothing here talks to the store.
 */

if (!parentPort) throw new Error('src/workers/worker.ts runs as a worker thread only');
const port = parentPort;
const init = workerData as WorkerInit;
const send = (m: FromWorker) => port.postMessage(m);
const log = createLogger(init.logLevel).child({ thread: threadId });
/** Its place 0 … N−1, told with each snapshot (a spare worker has none until it replaces one). */
let index = -1;
const shared = new SharedCells({ buffer: init.cells, allocates: false, ledger: init.ledger });
const runtime = new Runtime(createBalancer, { clock: realClock, shared, drainDeadlines: false });
const persistence = new PersistenceManager({ cookieKeys: [init.cookieKey] });

/** Access-log lines go to the primary, the one writer, a batch per event-loop turn. */
function relayAccessLog(): AccessLog {
  let buf = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (buf === '') return;
    send({ t: 'log', text: buf });
    buf = '';
  };
  return {
    write(record) {
      record.worker = index;
      buf += `${JSON.stringify(record)}\n`;
      if (buf.length > 65536) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    writeLines(text) {
      buf += text;
    },
    close: flush,
  };
}

const accessLog = init.accessLog ? relayAccessLog() : undefined;
const plane = new Plane(
  runtime,
  listenerFactories({
    secretKey: Buffer.from(init.secretKey),
    persistence,
    clock: realClock,
    reusePort: true,
    ticketKeys: Buffer.from(init.ticketKeys),
  }),
  log,
  { accessLog, shared },
);

// Passive health (H7) is decided by the primary, which sees every worker's outcomes in order.
// Only what can change its decision crosses: failures, and successes of a server with a
// failure streak under way (`failing` in its state); repeated successes of one server in a
// batch are one. A healthy fleet sends nothing per request.
let outIds: string[] = [];
let outOk: boolean[] = [];
const failing = new Set<string>();
const lastOk = new Map<string, boolean>();
runtime.outcomeListener = (rt, ok) => {
  if (!rt.backend.outlierDetection.enabled) return;
  if (ok && (!failing.has(rt.id) || lastOk.get(rt.id) === true)) return;
  if (outIds.length === 0) setImmediate(flushOutcomes);
  outIds.push(rt.id);
  outOk.push(ok);
  lastOk.set(rt.id, ok);
};
function flushOutcomes(): void {
  if (outIds.length === 0) return;
  send({ t: 'outcomes', ids: outIds, ok: outOk });
  outIds = [];
  outOk = [];
  lastOk.clear();
}

// Sessions learned here are kept on every other worker: entries go to the primary, which relays them.
let sticky: StickyEntry[] = [];
persistence.onRemember = (backendId, kind, key, serverId) => {
  if (sticky.length === 0) queueMicrotask(flushSticky);
  sticky.push([backendId, kind, key, serverId]);
};
function flushSticky(): void {
  if (sticky.length === 0) return;
  send({ t: 'sticky', entries: sticky });
  sticky = [];
}

function applyStates(states: readonly ServerState[]): void {
  for (const s of states) {
    const rt = runtime.server(s[0]);
    if (!rt) continue;
    applyServerState(rt, s);
    if (s[7]) failing.add(rt.id);
    else failing.delete(rt.id);
    runtime.invalidate(rt);
    if (rt.draining && !s[6]) runtime.cutDrain(rt); // the primary's deadline passed
  }
}

// A slot freed by another worker shows only in the shared counts: waiters are served on a short timer.
const QUEUE_PUMP_MS = 20;
let pump: NodeJS.Timeout | undefined;
function pumpQueues(): void {
  if (runtime.pumpQueues() === 0 && pump) {
    clearInterval(pump);
    pump = undefined;
  }
}
setInterval(() => {
  if (!pump && [...runtime.backends.values()].some((b) => b.queue.length > 0))
    pump = setInterval(pumpQueues, QUEUE_PUMP_MS);
}, 250).unref();

const reporter = new CounterReporter();
/** The snapshot this worker runs; each delta builds on it. */
let current: Snapshot | undefined;
let chain: Promise<void> = Promise.resolve();

async function handle(m: ToWorker): Promise<void> {
  switch (m.t) {
    case 'apply': {
      index = m.index;
      let snapshot: Snapshot;
      try {
        snapshot = decodeDelta(current, m.delta);
      } catch (err) {
        log.warn({ err }, 'snapshot delta does not fit: asking for the whole snapshot');
        send({ t: 'applied', seq: m.seq, version: -1, statuses: [], resync: true });
        return;
      }
      current = snapshot;
      shared.adopt(m.cells, m.wholeCells);
      // The primary's states before any listener opens, so no request sees a fresh server as unknown.
      runtime.reconcile(snapshot);
      applyStates(m.states);
      await plane.apply(snapshot);
      send({ t: 'applied', seq: m.seq, version: snapshot.version, statuses: plane.statuses() });
      return;
    }
    case 'state':
      applyStates(m.states);
      return;
    case 'sticky': {
      const now = realClock.now();
      for (const [backendId, kind, key, serverId] of m.entries) {
        const brt = runtime.backends.get(backendId);
        if (brt) persistence.replay(brt, kind, key, serverId, now);
      }
      return;
    }
    case 'drain-timeout':
      runtime.setDrainTimeout(m.id, m.ms);
      return;
    case 'collect':
      flushOutcomes();
      send({ t: 'counters', seq: m.seq, dump: reporter.dump(runtime, plane.counters), statuses: plane.statuses() });
      return;
    case 'close':
      await plane.close(m.drainMs);
      flushOutcomes();
      accessLog?.close();
      send({ t: 'closed' });
      port.close();
      process.exit(0);
  }
}

port.on('message', (m: ToWorker) => {
  // State, drain and collect messages wait for an apply in progress: they may name its servers.
  const run = chain.then(() => handle(m));
  chain = run.catch((err) => log.error({ err }, 'worker message failed'));
});
send({ t: 'ready' });
