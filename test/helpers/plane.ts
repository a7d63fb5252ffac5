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

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
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
