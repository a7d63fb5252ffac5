// A data plane in its own process, for tests that measure the proxy's memory alone.
// Usage: fork(this file, [JSON ConfigState]); it sends 'ready' once applied, answers 'rss'
// messages with { rss } (bytes), and exits on 'exit'.

import { createBalancer } from '../../src/balancer/registry.ts';
import { compile } from '../../src/config/snapshot.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Plane } from '../../src/dataplane/plane.ts';
import { createTcpListener } from '../../src/dataplane/tcp/listener.ts';
import type { ListenerFactory } from '../../src/dataplane/types.ts';
import { Runtime } from '../../src/runtime/runtime.ts';

const factories: Record<string, ListenerFactory> = { tcp: createTcpListener };
try {
  const http = await import('../../src/dataplane/http/listener.ts');
  if (typeof http.createHttpListener === 'function') factories.http = http.createHttpListener;
} catch {
  // no http listener in this build
}
const plane = new Plane(new Runtime(createBalancer), factories, silentLogger);
await plane.apply(compile(JSON.parse(process.argv[2] as string)));
process.on('message', async (m) => {
  if (m === 'rss') process.send?.({ rss: process.memoryUsage().rss });
  if (m === 'exit') {
    await plane.close(0);
    process.exit(0);
  }
});
process.send?.('ready');
