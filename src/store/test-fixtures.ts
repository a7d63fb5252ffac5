import type { LoadBalancer } from '../config/model.ts';
import type { AuditEntry } from './types.ts';

/** A stored load balancer for store tests: `name` defaults to the id. */
export function loadBalancerDoc(id: string, name = id, description = ''): LoadBalancer {
  return { id, name, description, allowedNetworks: [], ipAsBackend: false, maxServers: 492 };
}

/** The audit row of a store test's change. */
export const testAudit: Omit<AuditEntry, 'id' | 'configVersion'> = {
  at: '2026-01-01T00:00:00.000Z',
  actor: 'test',
  action: 'create',
  resource: 'x',
  before: null,
  after: null,
};
