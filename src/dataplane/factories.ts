import type { FrontendSpec } from '../config/snapshot.ts';
import type { Clock } from '../core/clock.ts';
import type { PersistenceManager } from '../persistence/choose.ts';
import { persistenceChooser } from '../persistence/http-chooser.ts';
import { httpListenerFactory } from './http/listener.ts';
import { httpsListenerFactory } from './https/listener.ts';
import { tcpListenerFactory } from './tcp/listener.ts';
import type { ListenerFactory } from './types.ts';
import { udpListenerFactory } from './udp/listener.ts';

/** What every protocol's listener needs (see `listenerFactories`). */
export interface ListenerFactoriesOptions {
  /** Decrypts certificate private keys (T1). */
  secretKey: Buffer;
  /** Persistence tables and cookie keys (P1–P5). */
  persistence: PersistenceManager;
  clock: Clock;
  /** Bind every frontend with SO_REUSEPORT (`--reuse-port`, and always with `--workers` above 1). */
  reusePort?: boolean;
  /** 48 bytes of TLS session ticket keys shared by every worker thread (issue 13 point 1). */
  ticketKeys?: Buffer;
}

/**
 * The listener factories of the data plane, one per protocol (F1): the one wiring used by a
 * single process (main.ts) and by each worker thread (src/workers/worker.ts).
 */
export function listenerFactories(o: ListenerFactoriesOptions): Record<FrontendSpec['protocol'], ListenerFactory> {
  const chooser = persistenceChooser(o.persistence, () => o.clock.now());
  return {
    http: httpListenerFactory({ chooser, reusePort: o.reusePort }),
    https: httpsListenerFactory({ secretKey: o.secretKey, chooser, reusePort: o.reusePort, ticketKeys: o.ticketKeys }),
    tcp: tcpListenerFactory({ persistence: o.persistence, reusePort: o.reusePort }),
    udp: udpListenerFactory({ persistence: o.persistence, reusePort: o.reusePort }),
  };
}
