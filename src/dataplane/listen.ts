import type { Server } from 'node:net';
import type { Logger } from '../core/log.ts';

/**
 * Binds a listening server of a frontend (http, https, tcp): resolves once it listens,
 * rejects with the system error (EADDRINUSE, EACCES, …) when it cannot bind, which the
 * plane shows in the frontend's status (F5). After binding, later server errors are logged
 * with the frontend's id and `label` (`http listener error`), never thrown. `reusePort` binds
 * with SO_REUSEPORT, so several Fulcrum nodes on one machine share the address and port.
 */
export function listenFrontend(
  server: Server,
  where: { host: string; port: number; frontendId: string; reusePort?: boolean },
  log: Logger,
  label: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // reusePort (SO_REUSEPORT, `--reuse-port`): several nodes on one machine share the port (C5).
    const reuse = where.reusePort ? { reusePort: true } : {};
    server.listen({ host: where.host, port: where.port, exclusive: true, ...reuse }, () => {
      server.off('error', reject);
      server.on('error', (err) => log.error({ err, frontendId: where.frontendId }, `${label} listener error`));
      resolve();
    });
  });
}
