import { FulcrumError, invalid } from '../core/errors.ts';
import { parseCidr4 } from '../core/net.ts';
import type { ConfigState, LoadBalancer } from './model.ts';
import { conflict, type Report } from './validate-common.ts';

/** Load balancers: their own rules, the server quota (S6), and the rules of a change (S6, S7). */

/** Rules of a load balancer on its own beyond its fields' schemas: allowed networks are IPv4 CIDRs (S7). */
export function loadBalancerRules(lb: LoadBalancer, report: Report): void {
  if (!Array.isArray(lb.allowedNetworks)) return;
  lb.allowedNetworks.forEach((c, i) => {
    if (typeof c !== 'string' || !parseCidr4(c)) {
      report(invalid(`allowedNetworks[${i}]`, `allowedNetworks[${i}]: must be an IPv4 CIDR such as 10.0.0.0/8`));
    }
  });
}

/** S6: a load balancer holds at most `maxServers` servers; `serversPerLb` counts them by load balancer id. */
export function loadBalancerQuota(
  lbs: ReadonlyMap<string, LoadBalancer>,
  serversPerLb: ReadonlyMap<string, number>,
  report: Report,
): void {
  for (const [lbId, n] of serversPerLb) {
    const lb = lbs.get(lbId);
    if (!lb) continue;
    if (n > lb.maxServers) {
      report(
        new FulcrumError(
          'quota',
          `maxServers: load balancer "${lb.name}" holds at most ${lb.maxServers} servers`,
          'maxServers',
        ),
      );
    }
  }
}

/** Rules about a change of load balancers (S6, S7): ipAsBackend one way only, maxServers not below the count. */
export function loadBalancerChangeProblems(before: ConfigState, after: ConfigState, out: FulcrumError[]): void {
  const oldLbs = new Map(before.loadBalancers.map((x) => [x.id, x]));
  for (const lb of after.loadBalancers) {
    const old = oldLbs.get(lb.id);
    if (old?.ipAsBackend && !lb.ipAsBackend) {
      out.push(conflict('ipAsBackend', 'ipAsBackend cannot be turned off once it is on'));
    }
    if (!old?.ipAsBackend && lb.ipAsBackend) {
      const udp = after.frontends.find((f) => f.loadBalancerId === lb.id && f.protocol === 'udp');
      if (udp) {
        out.push(
          conflict(
            'ipAsBackend',
            `ipAsBackend cannot be turned on while udp frontend "${udp.name}" exists: such a load balancer accepts only tcp, http and https frontends`,
          ),
        );
      }
    }
    if (old && lb.maxServers < old.maxServers) {
      const backendIds = new Set(after.backends.filter((b) => b.loadBalancerId === lb.id).map((b) => b.id));
      const count = after.servers.filter((s) => backendIds.has(s.backendId)).length;
      if (count > lb.maxServers) {
        out.push(
          conflict('maxServers', `maxServers cannot be lower than the ${count} servers the load balancer holds`),
        );
      }
    }
  }
}
