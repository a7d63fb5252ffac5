import type { HealthCheckType } from '../config/model.ts';
import { httpCheck, httpsCheck } from './http.ts';
import { mysqlCheck } from './mysql.ts';
import { postgresCheck } from './postgres.ts';
import { redisCheck } from './redis.ts';
import { tcpCheck } from './tcp.ts';
import { tlsCheck } from './tls.ts';
import type { HealthCheck } from './types.ts';
import { udpCheck } from './udp.ts';

/** Every check type of H1, by its configuration name. */
export const healthChecks: Readonly<Record<HealthCheckType, HealthCheck>> = Object.freeze({
  tcp: tcpCheck,
  http: httpCheck,
  https: httpsCheck,
  mysql: mysqlCheck,
  postgres: postgresCheck,
  redis: redisCheck,
  tls: tlsCheck,
  udp: udpCheck,
});
