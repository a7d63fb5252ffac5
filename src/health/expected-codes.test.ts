import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FulcrumError } from '../core/errors.ts';
import { parseExpectBody, parseExpectedCodes } from './expected-codes.ts';

test('expected codes: single, list, ranges and spaces (H3)', () => {
  const one = parseExpectedCodes('200');
  assert.equal(one(200), true);
  assert.equal(one(204), false);
  const list = parseExpectedCodes('200,204');
  assert.deepEqual([200, 204, 201].map(list), [true, true, false]);
  const mixed = parseExpectedCodes('200-299, 302');
  assert.deepEqual([200, 250, 299, 300, 302, 303, 404].map(mixed), [true, true, true, false, true, false, false]);
  const dflt = parseExpectedCodes('200-399');
  assert.deepEqual([199, 200, 399, 400, 0, 700, -1].map(dflt), [false, true, true, false, false, false, false]);
});

test('expected codes: bad input names the field and the rule', () => {
  for (const bad of ['abc', '', ' ', '200,', '20', '2000', '300-200', '099', '600', '200-700', '200;204', '2xx']) {
    assert.throws(
      () => parseExpectedCodes(bad),
      (err: unknown) =>
        err instanceof FulcrumError &&
        err.code === 'invalid' &&
        err.field === 'healthCheck.http.expectedCodes' &&
        /expectedCodes/.test(err.message),
      `"${bad}" must be refused`,
    );
  }
});

test('expect body: substring or /regex/flags', () => {
  assert.equal(parseExpectBody('ok')('status: ok'), true);
  assert.equal(parseExpectBody('ok')('status: OK'), false);
  const re = parseExpectBody('/^status: (ok|up)$/im');
  assert.equal(re('x\nSTATUS: UP\ny'), true);
  assert.equal(re('status: down'), false);
  assert.equal(re('status: ok'), true, 'lastIndex must not leak between calls');
  assert.equal(parseExpectBody('/')('a/b'), true, 'a lone slash is a substring');
  assert.throws(
    () => parseExpectBody('/(unclosed/'),
    (err: unknown) => err instanceof FulcrumError && err.field === 'healthCheck.http.expectBody',
  );
});
