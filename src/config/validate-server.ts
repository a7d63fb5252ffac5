import { invalid } from '../core/errors.ts';
import { cidrContains, isIpAddress, parseCidr4 } from '../core/net.ts';
import { parseIPv4Strict } from './address-guard.ts';
import { isHostName } from './host-name.ts';
import type { ConfigState, Instance, Server } from './model.ts';
import { conflict, type Indexes, type Report, rule, type Violation } from './validate-common.ts';

/** Servers and instances: their own rules, references, the allowed networks (S7), duplicate endpoints. */

/**
 * Rules of a server on its own beyond its fields' schemas: a custom address is an IPv4 dotted
 * quad (S1, S7) or a host name (issue 15 point 2; resolved at run time, src/runtime/dns.ts).
 */
export function serverRules(s: Server, report: Report): void {
  if (
    s.instanceId === null &&
    (typeof s.address !== 'string' || (parseIPv4Strict(s.address) === undefined && !isHostName(s.address)))
  ) {
    report(
      invalid(
        'address',
        `address: must be an IPv4 address in dotted-quad form such as 10.0.0.11 (four decimal numbers 0–255 without leading zeros; custom IPs are IPv4 only) or a host name such as api-1.internal (RFC 1123, at most 253 characters), got "${s.address}"`,
      ),
    );
  }
}

/** Rules of an inventory instance on its own beyond its fields' schemas. */
export function instanceRules(i: Instance, report: Report): void {
  if (typeof i.privateIp !== 'string' || !isIpAddress(i.privateIp)) {
    report(invalid('privateIp', 'privateIp: must be an IPv4 or IPv6 address'));
  }
}

/**
 * Servers' references and the allowed networks (F3, S7); answers the number of servers per
 * load balancer id for the quota (S6).
 */
export function serverRefs(c: ConfigState, ix: Indexes, report: Report): Map<string, number> {
  const { lbs, backends, instances, certs } = ix;
  const serversPerLb = new Map<string, number>();
  for (const s of c.servers) {
    const b = backends.get(s.backendId);
    if (!b) {
      report(invalid('backendId', `backendId: no backend with id "${s.backendId}"`));
      continue;
    }
    const lb = lbs.get(b.loadBalancerId);
    if (!lb) continue;
    serversPerLb.set(lb.id, (serversPerLb.get(lb.id) ?? 0) + 1);
    if (s.port === null && b.port === null) {
      // F3
      report(invalid('port', `port: server "${s.name}" has no port and backend "${b.name}" has no default port`));
    }
    if (s.caCertificateId !== null) {
      const cert = certs.get(s.caCertificateId);
      if (!cert) report(invalid('caCertificateId', `caCertificateId: no certificate with id "${s.caCertificateId}"`));
      else if (cert.kind !== 'ca')
        report(invalid('caCertificateId', `caCertificateId: certificate "${cert.name}" is not a CA bundle`));
    }
    if (s.instanceId !== null) {
      const inst = instances.get(s.instanceId);
      if (!inst) report(invalid('instanceId', `instanceId: no instance with id "${s.instanceId}"`));
      else if (s.address !== inst.privateIp) {
        report(
          invalid(
            'address',
            `address: server "${s.name}" follows instance "${inst.name}" whose IP is ${inst.privateIp}`,
          ),
        );
      }
      continue;
    }
    // S7: a custom address is an instance's IP or inside the allowed networks, unless ipAsBackend.
    if (lb.ipAsBackend) continue;
    // A host name is checked against the allowed networks and the guard at every resolution (src/runtime/dns.ts).
    if (parseIPv4Strict(s.address) === undefined) continue;
    const known = c.instances.some((i) => i.privateIp === s.address);
    if (known) continue;
    const inNetwork = lb.allowedNetworks.some((n) => {
      const cidr = parseCidr4(n);
      return cidr !== undefined && cidrContains(cidr, s.address);
    });
    if (!inNetwork) {
      report(
        rule(
          'address',
          `${s.address} is neither an inventory instance's IP nor inside the allowed networks of load balancer "${lb.name}" (${lb.allowedNetworks.join(', ') || 'none'}); enable ipAsBackend to add any IPv4 address`,
        ),
      );
    }
  }
  return serversPerLb;
}

/**
 * Duplicate servers (issue 11): two servers of one backend with the same address and
 * effective port (the backend's when the server has none; an instance-bound server's address
 * is its instance's privateIp). A write rule: stored data that predates it is kept.
 */
export function duplicateServers(c: ConfigState): Violation[] {
  const out: Violation[] = [];
  const backendPorts = new Map(c.backends.map((b) => [b.id, b.port]));
  const seen = new Map<string, Server>();
  for (const s of c.servers) {
    const port = s.port ?? backendPorts.get(s.backendId) ?? null;
    if (port === null) continue;
    const endpoint = `${s.address}:${port}`;
    const key = `${s.backendId}\u0000${endpoint}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, s);
      continue;
    }
    out.push({
      key: `server:${s.id}:endpoint:${endpoint}`,
      error: conflict(
        'address',
        `server "${s.name}" has the same address and port (${endpoint}) as server "${first.name}" of this backend; each server of a backend needs its own address:port`,
      ),
    });
  }
  return out;
}
