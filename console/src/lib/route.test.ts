import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { href, lookupQueries, parseRoute, type Route } from './route.ts';

describe('routes', () => {
  it('round-trips every route', () => {
    const routes: Route[] = [
      { page: 'load-balancers' },
      { page: 'load-balancer', id: 'lb 1', tab: 'backends' },
      { page: 'load-balancer', id: 'x', tab: 'statistics' },
      { page: 'backend', id: 'b1' },
      { page: 'frontend', id: 'f1' },
      { page: 'lookup', q: '10.0.0.1' },
      { page: 'events' },
      { page: 'instances' },
      { page: 'certificates' },
    ];
    for (const r of routes) assert.deepEqual(parseRoute(href(r)), r);
  });
  it('sends unknown hashes to the list and defaults the tab', () => {
    assert.deepEqual(parseRoute(''), { page: 'load-balancers' });
    assert.deepEqual(parseRoute('#/nope'), { page: 'load-balancers' });
    assert.deepEqual(parseRoute('#/load-balancers/a/bogus'), { page: 'load-balancer', id: 'a', tab: 'frontends' });
    assert.deepEqual(parseRoute('#/backends'), { page: 'load-balancers' });
  });
  it('looks up addresses by address and other text by id and instance id (S8)', () => {
    assert.deepEqual(lookupQueries(' 10.0.0.1 '), [{ address: '10.0.0.1' }]);
    assert.deepEqual(lookupQueries('::1'), [{ address: '::1' }]);
    assert.deepEqual(lookupQueries('srv_123'), [{ id: 'srv_123' }, { instanceId: 'srv_123' }]);
    assert.deepEqual(lookupQueries(''), []);
  });
});
