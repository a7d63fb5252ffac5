import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedOnly, convert, fieldFor, getPath, setPath, stableJson, toPayload, valuesFrom } from './form.ts';

describe('form conversions', () => {
  it('reads and writes dotted paths', () => {
    const o: Record<string, unknown> = {};
    setPath(o, 'healthCheck.http.path', '/health');
    setPath(o, 'port', 80);
    assert.deepEqual(o, { healthCheck: { http: { path: '/health' } }, port: 80 });
    assert.equal(getPath(o, 'healthCheck.http.path'), '/health');
    assert.equal(getPath(o, 'healthCheck.mysql.user'), undefined);
    assert.equal(getPath(null, 'a'), undefined);
  });

  it('converts each kind and names the field in errors', () => {
    assert.deepEqual(convert({ path: 'port', kind: 'int' }, ' 8080 '), { value: 8080 });
    assert.deepEqual(
      convert({ path: 'port', kind: 'int' }, '70000'),
      { value: 70000 },
      'range is for the API to judge',
    );
    assert.deepEqual(convert({ path: 'port', kind: 'int' }, ''), { error: 'port is required' });
    assert.deepEqual(convert({ path: 'port', kind: 'int' }, '80a'), { error: 'port must be a whole number' });
    assert.deepEqual(convert({ path: 'port', kind: 'int' }, '8.5'), { error: 'port must be a whole number' });
    assert.deepEqual(convert({ path: 'hc.port', kind: 'optInt' }, ''), { value: null });
    assert.deepEqual(convert({ path: 'zone', kind: 'optText' }, '  '), { value: null });
    assert.deepEqual(convert({ path: 'host', kind: 'omitText' }, ''), { value: undefined });
    assert.deepEqual(
      toPayload([{ path: 'hc.host', kind: 'omitText' }], { 'hc.host': '' }).payload,
      {},
      'left out, not null',
    );
    assert.deepEqual(convert({ path: 'name', kind: 'text' }, ' web-1 '), { value: 'web-1' });
    assert.deepEqual(convert({ path: 'passive', kind: 'bool' }, true), { value: true });
    assert.deepEqual(convert({ path: 'passive', kind: 'bool' }, undefined), { value: false });
    assert.deepEqual(convert({ path: 'nets', kind: 'list' }, '10.0.0.0/8, 192.168.0.0/16\n172.16.0.0/12'), {
      value: ['10.0.0.0/8', '192.168.0.0/16', '172.16.0.0/12'],
    });
    assert.deepEqual(convert({ path: 'nets', kind: 'list' }, ''), { value: [] });
  });

  it('round-trips a resource through form values', () => {
    const specs = [
      { path: 'name', kind: 'text' },
      { path: 'port', kind: 'optInt' },
      { path: 'hc.enabled', kind: 'bool' },
      { path: 'nets', kind: 'list' },
    ] as const;
    const v = valuesFrom(specs, { name: 'a', port: null, hc: { enabled: true }, nets: ['10.0.0.0/8'] });
    assert.deepEqual(v, { name: 'a', port: '', 'hc.enabled': true, nets: '10.0.0.0/8' });
    const { payload, errors } = toPayload(specs, v);
    assert.deepEqual(errors, {});
    assert.deepEqual(payload, { name: 'a', port: null, hc: { enabled: true }, nets: ['10.0.0.0/8'] });
  });

  it('collects every bad field and skips what it is told to', () => {
    const specs = [
      { path: 'a', kind: 'int' },
      { path: 'b', kind: 'int' },
      { path: 'c', kind: 'int' },
    ] as const;
    const { payload, errors } = toPayload(specs, { a: 'x', b: '', c: 'bad' }, (p) => p === 'c');
    assert.deepEqual(errors, { a: 'a must be a whole number', b: 'b is required' });
    assert.deepEqual(payload, {});
  });

  it('sends only changed top-level fields, ignoring key order', () => {
    const prev = { name: 'a', hc: { x: 1, y: 2 }, port: 80 };
    assert.deepEqual(changedOnly({ name: 'a', hc: { y: 2, x: 1 }, port: 81 }, prev), { port: 81 });
    assert.deepEqual(changedOnly({ name: 'a', hc: { x: 1, y: 3 }, port: 80 }, prev), { hc: { x: 1, y: 3 } });
    assert.deepEqual(changedOnly({ zone: null }, { zone: 'az1' }), { zone: null });
    assert.equal(stableJson({ b: 1, a: [1, { d: 2, c: 1 }] }), '{"a":[1,{"c":1,"d":2}],"b":1}');
  });

  it('places an API error beside the field it names', () => {
    const known = ['port', 'healthCheck.intervalSeconds', 'name'];
    assert.equal(fieldFor('port', known), 'port');
    assert.equal(fieldFor('server.port', known), 'port');
    assert.equal(fieldFor('healthCheck.intervalSeconds', known), 'healthCheck.intervalSeconds');
    assert.equal(fieldFor('zone', known), null);
    assert.equal(fieldFor(null, known), null);
  });
});
