import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describeMatch,
  ExplainFields,
  emptyExplainValues,
  explainFieldsFor,
  explainQuery,
  nextSummary,
  percent,
  ruleOutcome,
} from './explain.ts';
import type { Explanation, ServerExplanation } from './types.ts';

const server = (id: string, name: string): ServerExplanation => ({
  id,
  name,
  address: '10.0.0.1',
  port: 80,
  passive: false,
  eligible: true,
  reason: null,
  detail: 'eligible',
  health: 'healthy',
  lastCheck: null,
  drainingUntil: null,
  ejectedUntil: null,
  weight: 1,
  slowStartFactor: 1,
  effectiveWeight: 1,
  expectedShare: 0.5,
  activeConnections: 0,
  ewmaTtfbMs: 0,
});

const answer = (next: Explanation['next']): Explanation => ({
  at: '2025-01-01T00:00:00.000Z',
  client: { address: '203.0.113.7', port: null },
  frontend: null,
  routing: null,
  backend: { id: 'b', name: 'web', algorithm: 'round-robin' },
  persistence: null,
  passives: null,
  servers: [server('s1', 'web-1'), server('s2', 'web-2')],
  next,
});

describe('explain panel logic', () => {
  it('asks routing fields only of an HTTP(S) frontend', () => {
    assert.deepEqual(explainFieldsFor('frontend', 'http'), ExplainFields);
    assert.deepEqual(explainFieldsFor('frontend', 'https'), ExplainFields);
    assert.deepEqual(explainFieldsFor('frontend', 'tcp'), ['client']);
    assert.deepEqual(explainFieldsFor('backend'), ['client', 'cookie']);
  });

  it('builds the query from the fields given, trimmed, and requires the client', () => {
    const v = { ...emptyExplainValues(), client: ' 203.0.113.7 ', path: '/api/x?a=1', header: 'X-Canary: 1' };
    assert.deepEqual(explainQuery(v, ExplainFields), {
      query: '?client=203.0.113.7&path=%2Fapi%2Fx%3Fa%3D1&header=X-Canary%3A+1',
      errors: {},
    });
    // fields the target does not take are not sent
    assert.equal(explainQuery({ ...v, host: 'h' }, ['client', 'cookie']).query, '?client=203.0.113.7');
    assert.match(explainQuery(emptyExplainValues(), ExplainFields).errors.client ?? '', /required/);
    // the cookie is sent as typed
    assert.equal(
      explainQuery({ client: '::1', cookie: 'a=1; b=2 ' }, ['client', 'cookie']).query,
      '?client=%3A%3A1&cookie=a%3D1%3B+b%3D2+',
    );
  });

  it('says what a rule wanted and what the request had', () => {
    assert.equal(
      describeMatch({ host: 'api.example', pathPrefix: '/api/', header: { name: 'X-A', value: '1' } }),
      'host api.example, path prefix /api/, header X-A: 1',
    );
    assert.equal(describeMatch({}), 'any request');
    const base = { index: 0, backendId: 'b', backendName: 'api', match: {} };
    assert.equal(ruleOutcome({ ...base, matched: true }), 'matched → backend api');
    assert.equal(
      ruleOutcome({ ...base, matched: false, failed: 'pathPrefix', expected: '/api/…', actual: '/cart' }),
      'did not match: path prefix wants /api/…, got /cart',
    );
    assert.equal(
      ruleOutcome({ ...base, matched: false, failed: 'host', expected: 'a', actual: '' }),
      'did not match: host wants a, got (none)',
    );
  });

  it('summarises the next server, exact or among candidates', () => {
    assert.equal(percent(1 / 3), '33.3 %');
    assert.equal(percent(1), '100 %');
    const exact = { exact: true, serverId: 's2', via: 'balancer' as const, candidates: [], reason: 'r' };
    assert.equal(nextSummary(answer(exact)), 'web-2 (exact, by balancer)');
    assert.equal(nextSummary(answer({ ...exact, serverId: null, via: 'none' })), 'none: no server is available');
    const c = { probability: 0.5, activeConnections: 0, ewmaTtfbMs: 0, score: 0 };
    const spread = {
      exact: false,
      serverId: 's1',
      via: 'balancer' as const,
      candidates: [
        { ...c, serverId: 's1' },
        { ...c, serverId: 's2' },
      ],
      reason: 'r',
    };
    assert.equal(nextSummary(answer(spread)), 'most likely web-1, one of 2 candidates');
    assert.equal(nextSummary(answer({ ...spread, serverId: null })), 'one of 2 candidates');
  });
});
