import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { emptyConfig } from '../config/model.ts';
import { followInstances } from '../config/resources.ts';
import { validateConfig } from '../config/validate.ts';
import { exportState, exportYaml } from './export.ts';
import { formatPlan } from './format.ts';
import { DeclarativeFileError, parseDeclarative } from './parse.ts';
import { applyPlanToState, planApply } from './plan.ts';

const SHOP = `
instances:
  - { name: vm-1, privateIp: 10.0.0.21, zone: az1, os: linux, serverType: application }
loadBalancers:
  - name: shop
    allowedNetworks: [10.0.0.0/8]
    backends:
      - name: web
        mode: http
        algorithm: weighted-round-robin
        healthCheck: { enabled: true, type: http, intervalSeconds: 2, http: { path: /health } }
        servers:
          - { name: web-1, serverType: web, address: 10.0.0.11, port: 8080, weight: 2 }
          - { name: web-2, serverType: web, address: 10.0.0.12, port: 8080, zone: az2 }
          - { name: app-1, instance: vm-1, port: 9000 }
      - name: api
        mode: http
        port: 9090
        persistence: { type: cookie }
        servers:
          - { name: api-1, address: 10.0.0.31 }
      - name: db
        mode: tcp
        port: 5432
        healthCheck: { type: postgres }
        servers: [{ name: db-1, address: 10.0.0.41, passive: true }]
    frontends:
      - name: www
        protocol: http
        bindAddress: 0.0.0.0
        port: 80
        backend: web
        rules: [{ match: { pathPrefix: /api }, backend: api }]
        timeouts: { requestHeaderSeconds: 5, clientIdleSeconds: 60 }
      - { name: pg, protocol: tcp, port: 5432, backend: db }
`;

/** Applies a file to a state the way serve --config does; answers the new state. */
function applied(text: string, state = emptyConfig(), prune = false) {
  const draft = structuredClone(state);
  const plan = planApply(parseDeclarative(text, 'f.yaml'), draft, { prune });
  applyPlanToState(draft, plan);
  followInstances(draft);
  validateConfig(draft);
  return { plan, state: draft };
}

function refusal(text: string, state = emptyConfig()): string {
  try {
    planApply(parseDeclarative(text, 'f.yaml'), state, { prune: false });
  } catch (err) {
    assert.ok(err instanceof DeclarativeFileError, `not a file error: ${(err as Error).message}`);
    return err.message;
  }
  assert.fail('the file was accepted');
}

describe('declarative plan (C4)', () => {
  test('a file on an empty configuration creates everything in dependency order', () => {
    const { plan, state } = applied(SHOP);
    const order = plan.steps.map((s) => `${s.op} ${s.kind} ${s.name}`);
    assert.deepEqual(order, [
      'create loadBalancer shop',
      'create instance vm-1',
      'create backend shop/web',
      'create backend shop/api',
      'create backend shop/db',
      'create server shop/web/web-1',
      'create server shop/web/web-2',
      'create server shop/web/app-1',
      'create server shop/api/api-1',
      'create server shop/db/db-1',
      'create frontend shop/www',
      'create frontend shop/pg',
    ]);
    const web = state.backends.find((b) => b.name === 'web')!;
    assert.equal(
      web.healthCheck.timeoutSeconds,
      2,
      'an interval below the default timeout brings it down (as the API)',
    );
    const app1 = state.servers.find((s) => s.name === 'app-1')!;
    assert.equal(app1.address, '10.0.0.21');
    assert.equal(app1.serverType, 'application', 'from the instance');
    const www = state.frontends.find((f) => f.name === 'www')!;
    assert.equal(www.defaultBackendId, web.id);
    assert.equal(www.rules[0]?.backendId, state.backends.find((b) => b.name === 'api')!.id);
    assert.equal(state.backends.find((b) => b.name === 'api')!.persistence.cookieName, 'FULCRUM_SRV');
  });

  test('re-applying the same file plans nothing', () => {
    const { state } = applied(SHOP);
    const again = planApply(parseDeclarative(SHOP, 'f.yaml'), state, { prune: false });
    assert.deepEqual(again.steps, []);
    assert.deepEqual(formatPlan(again), ['No changes: the configuration already matches the file.']);
  });

  test('changing one weight updates only that field of that server', () => {
    const { state } = applied(SHOP);
    const plan = planApply(
      parseDeclarative(SHOP.replace('port: 8080, weight: 2', 'port: 8080, weight: 5'), 'f.yaml'),
      state,
      { prune: false },
    );
    assert.equal(plan.steps.length, 1);
    const [s] = plan.steps;
    assert.equal(s?.op, 'update');
    assert.equal(s?.name, 'shop/web/web-1');
    assert.deepEqual(s?.body, { weight: 5 });
    assert.ok(formatPlan(plan).includes('    weight: 2 → 5'), formatPlan(plan).join('\n'));
  });

  test('nested settings update field by field; a reference change shows names', () => {
    const { state } = applied(SHOP);
    const text = SHOP.replace('intervalSeconds: 2,', 'intervalSeconds: 2, rise: 4,')
      .replace(
        '{ name: pg, protocol: tcp, port: 5432, backend: db }',
        '{ name: pg, protocol: tcp, port: 5432, backend: db2 }',
      )
      .replace('      - name: db\n', '      - name: db2\n        mode: tcp\n        port: 5432\n      - name: db\n');
    const plan = planApply(parseDeclarative(text, 'f.yaml'), state, { prune: false });
    const lines = formatPlan(plan);
    assert.deepEqual(
      plan.steps.map((s) => `${s.op} ${s.name}`),
      ['update shop/web', 'create shop/db2', 'update shop/pg'],
    );
    assert.deepEqual(plan.steps[0]?.body, { healthCheck: { rise: 4 } });
    assert.ok(lines.includes('    defaultBackendId: "db" → "db2"'), lines.join('\n'));
  });

  test('prune deletes what the file does not name under its load balancers, never other load balancers', () => {
    const { state } = applied(`${SHOP}  - name: other\n    backends: [{ name: x, mode: tcp, port: 1 }]\n`);
    const smaller = SHOP.replace(
      '          - { name: web-2, serverType: web, address: 10.0.0.12, port: 8080, zone: az2 }\n',
      '',
    )
      .replace('        servers: [{ name: db-1, address: 10.0.0.41, passive: true }]\n', '')
      .replace('      - { name: pg, protocol: tcp, port: 5432, backend: db }\n', '')
      .replace(/ {6}- name: db\n {8}mode: tcp\n {8}port: 5432\n {8}healthCheck: \{ type: postgres \}\n/, '');
    const noPrune = planApply(parseDeclarative(smaller, 'f.yaml'), state, { prune: false });
    assert.deepEqual(noPrune.steps, []);
    const plan = planApply(parseDeclarative(smaller, 'f.yaml'), state, { prune: true });
    assert.deepEqual(
      plan.steps.map((s) => `${s.op} ${s.kind} ${s.name}${s.note ? ` (${s.note})` : ''}`),
      ['delete frontend shop/pg', 'delete server shop/web/web-2', 'delete backend shop/db (with its 1 server)'],
    );
    const after = structuredClone(state);
    applyPlanToState(after, plan);
    validateConfig(after);
    assert.equal(after.servers.length, state.servers.length - 2);
    assert.ok(
      after.backends.some((b) => b.name === 'x'),
      'the other load balancer is untouched',
    );
  });

  test('export is minimal, names references, and applying it plans nothing', () => {
    const { state } = applied(SHOP);
    const exported = exportYaml(state, 'test');
    const doc = parse(exported) as {
      loadBalancers: { backends: { servers: Record<string, unknown>[] }[]; frontends: Record<string, unknown>[] }[];
    };
    const lb = doc.loadBalancers[0]!;
    assert.deepEqual(lb.backends[0]!.servers[2], { name: 'app-1', instance: 'vm-1', port: 9000 });
    assert.equal(lb.frontends[0]!.backend, 'web');
    assert.ok(!exported.includes('id:'), 'no ids');
    const again = planApply(parseDeclarative(exported, 'export.yaml'), state, { prune: true });
    assert.deepEqual(formatPlan(again), ['No changes: the configuration already matches the file.']);
    // A configuration built from the export alone equals the original (ids aside).
    const rebuilt = applied(exported).state;
    assert.deepEqual(exportState(rebuilt), exportState(state));
  });

  test('export of non-default settings round-trips', () => {
    const text = `loadBalancers:
  - name: lb
    ipAsBackend: true
    maxServers: 10
    description: d
    backends:
      - name: b
        mode: http
        algorithm: weighted-round-robin
        port: 80
        slowStart: { enabled: true, durationSeconds: 60 }
        healthCheck: { type: https, port: 8443, intervalSeconds: 10, timeoutSeconds: 10, rise: 1, fall: 1, http: { method: HEAD, path: /x, host: h.example, expectedCodes: "200,204" } }
        persistence: { type: app-cookie, cookieName: SID, timeoutSeconds: 0 }
        tls: { enabled: true, sni: h.example, verify: false }
        outlierDetection: { enabled: false, consecutiveFailures: 3, baseEjectionSeconds: 5, maxEjectionSeconds: 10, maxEjectionPercent: 100 }
        timeouts: { connectSeconds: 1, responseSeconds: 2 }
        drainTimeoutSeconds: 0
        servers: [{ name: s, address: 192.0.2.1, weight: 0, enabled: false, sslOffload: true, zone: z }]
      - { name: u, mode: udp, port: 53, udpTimeoutSeconds: 5, maxFlows: 7, healthCheck: { type: udp, udp: { send: ping } } }
    frontends:
      - { name: f, protocol: http, port: 8081, enabled: false, maxConnections: 5 }
`;
    const { state } = applied(text);
    const exported = exportYaml(state, 'test');
    assert.deepEqual(planApply(parseDeclarative(exported, 'e.yaml'), state, { prune: true }).steps, []);
    assert.deepEqual(exportState(applied(exported).state), exportState(state));
  });
});

describe('declarative servers: description, tags, per-server checks; versions stay out (issue 15)', () => {
  const FLEET = `loadBalancers:
  - name: lb
    allowedNetworks: [10.0.0.0/8]
    backends:
      - name: b
        mode: http
        port: 80
        servers:
          - name: s1
            address: 10.0.0.1
            description: rack 4, left
            tags: [env=prod, canary]
            healthCheck: { port: 8081, enabled: true }
          - { name: s2, address: 10.0.0.2, healthCheck: { enabled: false } }
          - { name: s3, address: 10.0.0.3 }
`;

  test('the file sets them, export keeps only what differs from the defaults, and re-applying plans nothing', () => {
    const { state } = applied(FLEET);
    const [s1, s2, s3] = state.servers;
    assert.equal(s1!.description, 'rack 4, left');
    assert.deepEqual(s1!.tags, ['env=prod', 'canary']);
    assert.deepEqual(s1!.healthCheck, { port: 8081, enabled: true });
    assert.deepEqual(s2!.healthCheck, { port: null, enabled: false });
    assert.deepEqual([s3!.description, s3!.tags, s3!.healthCheck], ['', [], { port: null, enabled: true }]);
    // As loaded from a store: every resource carries its version; neither export nor plan sees it.
    for (const x of [...state.loadBalancers, ...state.backends, ...state.servers]) x.version = 7;
    const exported = exportYaml(state, 'test');
    assert.ok(!/version/.test(exported), 'no version in the file');
    const servers = (parse(exported) as { loadBalancers: { backends: { servers: unknown[] }[] }[] }).loadBalancers[0]!
      .backends[0]!.servers;
    assert.deepEqual(servers, [
      {
        name: 's1',
        address: '10.0.0.1',
        description: 'rack 4, left',
        tags: ['env=prod', 'canary'],
        healthCheck: { port: 8081 },
      },
      { name: 's2', address: '10.0.0.2', healthCheck: { enabled: false } },
      { name: 's3', address: '10.0.0.3' },
    ]);
    assert.deepEqual(planApply(parseDeclarative(exported, 'e.yaml'), state, { prune: true }).steps, []);
    const retagged = planApply(parseDeclarative(FLEET.replace('canary', 'stable'), 'f.yaml'), state, { prune: false });
    assert.deepEqual(formatPlan(retagged).slice(0, 2), [
      '~ update server "lb/b/s1"',
      '    tags: ["env=prod","canary"] → ["env=prod","stable"]',
    ]);
  });

  test('bad tags are refused with their path and rule', () => {
    const msg = refusal(FLEET.replace('[env=prod, canary]', '["env = prod"]'));
    assert.match(msg, /servers\[0\]\.tags\[0\]/);
    assert.match(msg, /key=value/);
  });
});

describe('declarative file forms (C4)', () => {
  test("API.md appendix's example is accepted as written", () => {
    const example = `loadBalancers:
  - name: shop
    allowedNetworks: [10.0.0.0/8]
    backends:
      - name: web
        mode: http
        algorithm: weighted-round-robin
        healthCheck: { enabled: true, type: http, http: { path: /health } }
        servers:
          - { name: web-1, serverType: web, address: 10.0.0.11, port: 8080, weight: 2 }
          - { name: web-2, serverType: web, address: 10.0.0.12, port: 8080, zone: az2 }
    frontends:
      - { name: www, protocol: http, bindAddress: 0.0.0.0, port: 80, backend: web }
`;
    const { plan, state } = applied(example);
    assert.equal(plan.steps.length, 5);
    assert.equal(state.backends[0]?.healthCheck.http?.path, '/health');
    assert.equal(state.servers[0]?.weight, 2);
    assert.equal(state.servers[1]?.zone, 'az2');
  });

  test('JSON is accepted too', () => {
    const json = JSON.stringify({
      loadBalancers: [
        {
          name: 'j',
          backends: [{ name: 'b', mode: 'tcp', port: 5 }],
          frontends: [{ name: 'f', protocol: 'tcp', port: 7, backend: 'b' }],
        },
      ],
    });
    const { state } = applied(json);
    assert.equal(state.frontends[0]?.defaultBackendId, state.backends[0]?.id);
  });

  test('certificates are referred to by name, and exported by name', () => {
    const base = emptyConfig();
    const cert = (id: string, name: string, kind: 'server' | 'ca') => ({
      id,
      name,
      kind,
      certPem: '',
      keyEncrypted: null,
      subjects: [],
      issuer: '',
      notBefore: '',
      notAfter: '',
      fingerprintSha256: '',
    });
    base.certificates.push(cert('cert-1', 'site', 'server'), cert('cert-2', 'inner-ca', 'ca'));
    const text = `loadBalancers:
  - name: tls
    allowedNetworks: [10.0.0.0/8]
    backends:
      - name: b
        mode: http
        port: 443
        tls: { enabled: true, caCertificate: inner-ca }
        servers: [{ name: s, address: 10.0.0.1, caCertificate: inner-ca }]
    frontends: [{ name: f, protocol: https, port: 443, backend: b, certificates: [site] }]
`;
    const { state } = applied(text, base);
    assert.deepEqual(state.frontends[0]?.certificateIds, ['cert-1']);
    assert.equal(state.backends[0]?.tls.caCertificateId, 'cert-2');
    assert.equal(state.servers[0]?.caCertificateId, 'cert-2');
    const exported = exportYaml(state, 'test');
    assert.match(exported, /certificates:\n\s+- site/);
    assert.match(exported, /caCertificate: inner-ca/);
    assert.deepEqual(planApply(parseDeclarative(exported, 'e.yaml'), state, { prune: true }).steps, []);
  });
});

describe('declarative file errors name the path (C4)', () => {
  const base = (servers: string) => `loadBalancers:
  - name: shop
    allowedNetworks: [10.0.0.0/8]
    backends:
      - { name: a, mode: http, port: 80 }
      - name: web
        mode: http
        servers:
${servers}
`;
  test('a server port out of range', () => {
    const msg = refusal(
      base(`          - { name: s0, address: 10.0.0.1, port: 80 }
          - { name: s1, address: 10.0.0.2, port: 80 }
          - { name: s2, address: 10.0.0.3, port: 70000 }`),
    );
    assert.equal(
      msg,
      'f.yaml: loadBalancers[0].backends[1].servers[2].port: must be an integer from 1 to 65535 or null',
    );
  });
  test('unknown key, wrong type, missing field', () => {
    assert.match(
      refusal(base('          - { name: s0, address: 10.0.0.1, port: 80, wieght: 2 }')),
      /loadBalancers\[0\]\.backends\[1\]\.servers\[0\]\.wieght: is not a field here/,
    );
    assert.match(
      refusal(base('          - { name: s0, address: 10.0.0.1, port: "80" }')),
      /servers\[0\]\.port: must be an integer from 1 to 65535 or null/,
    );
    assert.match(refusal('loadBalancers:\n  - { description: x }\n'), /loadBalancers\[0\]\.name: is required/);
    assert.match(refusal('loadbalancers: []\n'), /loadbalancers: is not a field here/);
    assert.match(refusal('- 1\n'), /must be a mapping/);
  });
  test('bad YAML gives the line', () => {
    assert.match(refusal('loadBalancers:\n  - name: [x\n'), /f\.yaml: not valid YAML or JSON: .*line/i);
    assert.match(
      refusal('loadBalancers: []\nloadBalancers: []\n'),
      /not valid YAML or JSON: .*[Mm]ap keys must be unique/,
    );
  });
  test('duplicate names', () => {
    assert.equal(
      refusal(
        base(
          '          - { name: s0, address: 10.0.0.1, port: 80 }\n          - { name: s0, address: 10.0.0.2, port: 80 }',
        ),
      ),
      'f.yaml: loadBalancers[0].backends[1].servers[1].name: duplicate server name "s0" (also at loadBalancers[0].backends[1].servers[0]); names are unique',
    );
    assert.match(
      refusal('loadBalancers: [{ name: a }, { name: a }]\n'),
      /loadBalancers\[1\]\.name: duplicate load balancer name "a"/,
    );
  });
  test('unknown references: backend, instance, certificate', () => {
    const fe = (f: string) =>
      `loadBalancers:\n  - name: shop\n    backends: [{ name: web, mode: http, port: 80 }]\n    frontends: [${f}]\n`;
    assert.equal(
      refusal(fe('{ name: www, protocol: http, port: 80, backend: wbe }')),
      'f.yaml: loadBalancers[0].frontends[0].backend: no backend named "wbe" in load balancer "shop" in the file or on the server',
    );
    assert.match(
      refusal(fe('{ name: www, protocol: http, port: 80, rules: [{ match: { host: a }, backend: nope }] }')),
      /frontends\[0\]\.rules\[0\]\.backend: no backend named "nope"/,
    );
    assert.match(
      refusal(fe('{ name: www, protocol: http, port: 80, rules: [{ match: { host: a } }] }')),
      /frontends\[0\]\.rules\[0\]\.backend: is required/,
    );
    assert.match(
      refusal(fe('{ name: www, protocol: https, port: 443, backend: web, certificates: [site] }')),
      /frontends\[0\]\.certificates\[0\]: no certificate named "site"/,
    );
    assert.match(
      refusal(base('          - { name: s0, instance: vm-9 }')),
      /servers\[0\]\.instance: no instance named "vm-9" in the file or on the server/,
    );
    assert.match(
      refusal(fe('{ name: www, protocol: http, port: 80, backend: web, defaultBackendId: x }')),
      /frontends\[0\]\.backend: give either backend \(a name\) or defaultBackendId, not both/,
    );
  });
  test('field rules of config/validate.ts, with the path', () => {
    assert.match(
      refusal(
        base('          - { name: s0, address: 10.0.0.1, port: 80 }').replace(
          '- { name: a, mode: http, port: 80 }',
          '- { name: a, mode: http, healthCheck: { intervalSeconds: 2, timeoutSeconds: 5 } }',
        ),
      ),
      /f\.yaml: loadBalancers\[0\]\.backends\[0\]\.healthCheck\.timeoutSeconds: must be an integer from 1 to intervalSeconds \(2\)/,
    );
    assert.match(refusal(base('          - { name: s0, port: 80 }')), /servers\[0\]\.address: must be an IPv4 address/);
  });
});
