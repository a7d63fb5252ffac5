// A data-plane process with persistence, for P5 tests (several worker processes or nodes, no
// shared session table). Usage: fork(this file, [JSON { config: ConfigState, cookieKey }]).
// It builds a Plane from the configuration with PersistenceManager({ cookieKeys: [cookieKey] })
// wired into the HTTP listener (persistenceChooser) and TCP/UDP listeners, sends
// { ready: true, listening: { [frontendId]: boolean } } once applied, and exits on 'exit'.

import { createBalancer } from '../../src/balancer/registry.ts';
import type { ConfigState } from '../../src/config/model.ts';
import { compile } from '../../src/config/snapshot.ts';
import { silentLogger } from '../../src/core/log.ts';
import { httpListenerFactory } from '../../src/dataplane/http/listener.ts';
import { Plane } from '../../src/dataplane/plane.ts';
import { tcpListenerFactory } from '../../src/dataplane/tcp/listener.ts';
import { PersistenceManager } from '../../src/persistence/choose.ts';
import { persistenceChooser } from '../../src/persistence/http-chooser.ts';
import { Runtime } from '../../src/runtime/runtime.ts';

const { config, cookieKey } = JSON.parse(process.argv[2] as string) as { config: ConfigState; cookieKey: string };
const runtime = new Runtime(createBalancer);
const persistence = new PersistenceManager({ cookieKeys: [cookieKey] });
const plane = new Plane(
  runtime,
  {
    http: httpListenerFactory({ chooser: persistenceChooser(persistence, () => runtime.clock.now()) }),
    tcp: tcpListenerFactory({ persistence }),
  },
  silentLogger,
);
await plane.apply(compile(config));
const listening: Record<string, boolean> = {};
for (const f of config.frontends) listening[f.id] = plane.status(f.id)?.listening === true;
process.on('message', async (m) => {
  if (m === 'exit') {
    await plane.close(0);
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true, listening });
