import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createBalancer } from '../../src/balancer/registry.ts';
import { defaultBackend } from '../../src/config/defaults.ts';
import type { Backend, ConfigState, Frontend, LoadBalancer, Protocol, Server } from '../../src/config/model.ts';
import { buildFrontend } from '../../src/config/resources.ts';
import { compile } from '../../src/config/snapshot.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Plane } from '../../src/dataplane/plane.ts';
import type { ListenerFactory } from '../../src/dataplane/types.ts';
import { Runtime } from '../../src/runtime/runtime.ts';

/**
 * The tests' one configuration builder (with `backend`, `server`, `frontend` below; the unit
 * tests' `config`/`srv` in ./runtime-world.ts build on them): a configuration with one load
 * balancer `lb1` (`lb` overrides its fields), for tests that do not need the API.
 */
export function baseConfig(lb: Partial<LoadBalancer> = {}): ConfigState {
  return {
    version: 1,
    loadBalancers: [
      {
        id: 'lb1',
        name: 'lb1',
        description: '',
        allowedNetworks: ['127.0.0.0/8'],
        ipAsBackend: false,
        maxServers: 492,
        ...lb,
      },
    ],
    frontends: [],
    backends: [],
    servers: [],
    instances: [],
    certificates: [],
  };
}

/** A backend with health checks off (servers healthy at once, H5) and the given overrides. */
export function backend(id: string, mode: Backend['mode'], over: Partial<Backend> = {}): Backend {
  const b = defaultBackend(id, 'lb1', id, mode);
  b.healthCheck.enabled = false;
  return { ...b, ...over };
}

/** A server on 127.0.0.1. */
export function server(id: string, backendId: string, port: number, over: Partial<Server> = {}): Server {
  return {
    id,
    backendId,
    name: id,
    serverType: 'web',
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

/** A frontend on 127.0.0.1:port, with the API's defaults for everything else (config/resources.ts). */
export function frontend(
  id: string,
  protocol: Protocol,
  port: number,
  backendId: string,
  over: Partial<Frontend> = {},
): Frontend {
  return buildFrontend(
    {
      loadBalancerId: 'lb1',
      name: id,
      protocol,
      bindAddress: '127.0.0.1',
      port,
      defaultBackendId: backendId,
      ...over,
    },
    id,
  );
}

/**
 * Where `freePort` picks: from 20000 up to the start of the kernel's ephemeral range (the
 * source ports of outgoing connections; 32768–60999 by default), at most 32000. A port from
 * `listen(0)` lies inside that range, and in a full run an outgoing connection can take it
 * between the pick and the bind of whatever the test starts there (a frontend, nginx, HAProxy,
 * dnsmasq): the bind then fails with EADDRINUSE. Null when the range leaves no room below it.
 */
const PICK_RANGE: readonly [number, number] | null = (() => {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the default's bound
  }
  const to = Math.min(low, 32000);
  return to - 20000 >= 1000 ? [20000, to] : null;
})();

/** Whether a TCP listener can bind 127.0.0.1:port now (bound then released). */
export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1, picked at random below the ephemeral range (`PICK_RANGE`) and
 * checked by binding it; a port from `listen(0)` where the range leaves no room.
 */
export async function freePort(): Promise<number> {
  if (PICK_RANGE !== null) {
    const [from, to] = PICK_RANGE;
    for (let i = 0; i < 200; i++) {
      const port = from + Math.floor(Math.random() * (to - from));
      if (await canListen(port)) return port;
    }
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A runtime and plane with the given listener factories; `apply(config)` bumps the version and applies it. */
export function makePlane(factories: ConstructorParameters<typeof Plane>[1]): {
  plane: Plane;
  runtime: Runtime;
  apply(config: ConfigState): Promise<void>;
} {
  const runtime = new Runtime(createBalancer);
  const plane = new Plane(runtime, factories, silentLogger);
  let version = 0;
  return {
    plane,
    runtime,
    apply(config) {
      config.version = ++version;
      return plane.apply(compile(structuredClone(config)));
    },
  };
}

export type { ListenerFactory };
