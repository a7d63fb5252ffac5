import { FulcrumError, invalid } from '../core/errors.ts';
import { isIpAddress } from '../core/net.ts';
import type { ConfigState, Frontend } from './model.ts';
import { httpsTwin } from './snapshot.ts';
import { type Indexes, type Report, rule } from './validate-common.ts';

/** Frontends: their own rules, their references (backends, certificates), and port clashes (F1, F2, F4, F5, T1, T4). */

/** Rules of a frontend on its own beyond its fields' schemas (F1, F4, T1, T4). */
export function frontendRules(f: Frontend, report: Report): void {
  if (typeof f.bindAddress !== 'string' || !isIpAddress(f.bindAddress)) {
    report(invalid('bindAddress', 'bindAddress: must be an IPv4 or IPv6 address'));
  }
  if (f.rules.length > 0 && f.protocol !== 'http' && f.protocol !== 'https') {
    // F4
    report(rule('rules', `routing rules need an http or https frontend, this one is ${f.protocol}`));
  }
  f.rules.forEach((r, i) => {
    const m = r.match ?? {};
    if (!m.host && !m.path && !m.pathPrefix && !m.header && !m.method) {
      report(
        invalid(
          `rules[${i}].match`,
          `rules[${i}].match: must give at least one of host, path, pathPrefix, header, method`,
        ),
      );
    }
  });
  if (f.tlsPassthrough && f.protocol !== 'tcp') {
    // T4
    report(rule('tlsPassthrough', `tlsPassthrough: TLS passthrough needs a tcp frontend, this one is ${f.protocol}`));
  }
  if (f.sniRules.length > 0 && !f.tlsPassthrough) {
    report(rule('sniRules', 'sniRules: SNI rules need tlsPassthrough on a tcp frontend'));
  }
  if (f.redirectToHttps && f.protocol !== 'http') {
    // T1
    report(rule('redirectToHttps', `redirectToHttps: applies to http frontends, this one is ${f.protocol}`));
  }
  if (f.acceptProxyProtocol === true) {
    // issue 15 point 3: the header is only believed from trustedProxies
    if (f.protocol === 'udp')
      report(rule('acceptProxyProtocol', 'applies to http, https and tcp frontends, this one is udp'));
    else if ((f.trustedProxies ?? []).length === 0)
      report(rule('acceptProxyProtocol', 'needs trustedProxies, the sources allowed to send the PROXY header'));
  }
  if (f.certificateIds.length > 0 && f.protocol !== 'https') {
    report(rule('certificateIds', `certificateIds: certificates apply to https frontends, this one is ${f.protocol}`));
  }
}

const ANY = new Set(['0.0.0.0', '::']);

/** F5: same port and transport, and equal addresses or one of them a wildcard. */
function bindsClash(a: Frontend, b: Frontend): boolean {
  if (a.port !== b.port) return false;
  if ((a.protocol === 'udp') !== (b.protocol === 'udp')) return false;
  return a.bindAddress === b.bindAddress || ANY.has(a.bindAddress) || ANY.has(b.bindAddress);
}

/** A frontend's references and the rules across resources (F2, F4, F5, S7, T1). */
export function frontendRefs(c: ConfigState, ix: Indexes, report: Report): void {
  const { lbs, backends, certs } = ix;
  for (const f of c.frontends) {
    if (f.redirectToHttps && !httpsTwin(c.frontends, f)) {
      // T1
      report(rule('redirectToHttps', 'this load balancer has no enabled https frontend to redirect to'));
    }
  }
  for (const f of c.frontends) {
    const lb = lbs.get(f.loadBalancerId);
    if (!lb) {
      report(invalid('loadBalancerId', `loadBalancerId: no load balancer with id "${f.loadBalancerId}"`));
      continue;
    }
    if (f.protocol === 'udp' && lb.ipAsBackend) {
      // S7
      report(
        rule(
          'protocol',
          `load balancer "${lb.name}" has ipAsBackend on and accepts only tcp, http and https frontends`,
        ),
      );
    }
    const wantMode = f.protocol === 'https' ? 'http' : f.protocol;
    const checkRef = (id: string, field: string): void => {
      const b = backends.get(id);
      if (!b) {
        report(invalid(field, `${field}: no backend with id "${id}"`));
        return;
      }
      if (b.loadBalancerId !== f.loadBalancerId) {
        // F4
        report(rule(field, `backend "${b.name}" belongs to another load balancer than frontend "${f.name}"`));
      }
      if (b.mode !== wantMode) {
        // F2
        report(
          rule(field, `a ${f.protocol} frontend needs a ${wantMode} backend, backend "${b.name}" has mode ${b.mode}`),
        );
      }
    };
    if (f.defaultBackendId !== null) checkRef(f.defaultBackendId, 'defaultBackendId');
    f.rules.forEach((r, i) => {
      checkRef(r.backendId, `rules[${i}].backendId`);
    });
    f.sniRules.forEach((r, i) => {
      checkRef(r.backendId, `sniRules[${i}].backendId`);
    });
    // T1
    f.certificateIds.forEach((id, i) => {
      const cert = certs.get(id);
      if (!cert) report(invalid(`certificateIds[${i}]`, `certificateIds[${i}]: no certificate with id "${id}"`));
      else if (cert.kind !== 'server') {
        report(
          invalid(
            `certificateIds[${i}]`,
            `certificateIds[${i}]: certificate "${cert.name}" is a CA bundle, not a server certificate`,
          ),
        );
      }
    });
    if (f.protocol === 'https' && f.certificateIds.length === 0) {
      report(invalid('certificateIds', 'certificateIds: an https frontend needs at least one server certificate'));
    }
  }
  // F5
  for (let i = 0; i < c.frontends.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = c.frontends[i]!;
      const b = c.frontends[j]!;
      if (bindsClash(a, b)) {
        report(
          new FulcrumError(
            'port_in_use',
            `port: ${a.bindAddress}:${a.port} (${a.protocol === 'udp' ? 'udp' : 'tcp'}) is already bound by frontend "${b.name}" (${b.bindAddress}:${b.port})`,
            'port',
          ),
        );
      }
    }
  }
}
