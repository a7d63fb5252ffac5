import type { Server } from 'node:net';
import type { Logger } from '../core/log.ts';

/**
 * Binds a listening server of a frontend (http, https, tcp): resolves once it listens,
 * rejects with the system error (EADDRINUSE, EACCES, …) when it cannot bind, which the
 * plane shows in the frontend's status (F5). After binding, later server errors are logged
 * with the frontend's id and `label` (`http listener error`), never thrown.
 */
export function listenFrontend(
  server: Server,
  where: { host: string; port: number; frontendId: string },
  log: Logger,
  label: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: where.host, port: where.port, exclusive: true }, () => {
      server.off('error', reject);
      server.on('error', (err) => log.error({ err, frontendId: where.frontendId }, `${label} listener error`));
      resolve();
    });
  });
}
