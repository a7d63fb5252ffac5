import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FulcrumError } from './errors.ts';
import { compileLinearRegex, MAX_PATTERN_LENGTH, splitSlashPattern } from './linear-regex.ts';

const F = 'healthCheck.http.expectBody';
const refused = (pattern: string, flags: string, words: RegExp) =>
  assert.throws(
    () => compileLinearRegex(pattern, flags, F),
    (err: unknown) =>
      err instanceof FulcrumError &&
      err.code === 'invalid' &&
      err.field === F &&
      err.message.startsWith(`${F}: `) &&
      words.test(err.message),
    `${pattern} /${flags} must be refused with ${words}`,
  );

test('linear regex: the JS syntax operators use compiles and matches', () => {
  assert.equal(compileLinearRegex('^status: (ok|up)$', 'im', F).test('x\nSTATUS: UP\ny'), true);
  assert.equal(compileLinearRegex('^status: (ok|up)$', '', F).test('x\nstatus: up\ny'), false, 'no m: ^ is the start');
  assert.equal(compileLinearRegex('a.b', 's', F).test('a\nb'), true);
  assert.equal(compileLinearRegex('a.b', '', F).test('a\nb'), false);
  assert.equal(compileLinearRegex('\\d{3} \\w+\\s', 'g', F).test('HTTP 200 ok '), true);
  assert.equal(compileLinearRegex('\\u0041[^]', 'u', F).test('xA\n'), true, '\\uXXXX and [^] are translated');
  assert.equal(compileLinearRegex('"status":\\s*"(?<s>ok)"', '', F).test('{"status": "ok"}'), true);
  assert.equal(compileLinearRegex('a\\/b', '', F).test('a/b'), true);
});

test('linear regex: a catastrophic pattern answers at once on a long input', () => {
  // /^(a+)+$/ on "a"×n + "!" costs V8's backtracking engine ~2^n steps; RE2 is linear.
  const re = compileLinearRegex('^(a+)+$', '', F);
  const t0 = performance.now();
  assert.equal(re.test(`${'a'.repeat(65_535)}!`), false);
  assert.equal(re.test('a'.repeat(65_536)), true);
  assert.ok(performance.now() - t0 < 1000, 'linear time');
});

test('linear regex: backreferences, lookaround, bad flags and long patterns are refused with the rule', () => {
  refused('(a)\\1', '', /no backreferences.*found \\1/);
  refused('(?<n>a)\\k<n>', '', /no backreferences.*found \\k</);
  refused('a(?=b)', '', /no lookahead or lookbehind/);
  refused('a(?!b)', '', /no lookahead or lookbehind/);
  refused('(?<=a)b', '', /no lookahead or lookbehind/);
  refused('(?<!a)b', '', /no lookahead or lookbehind/);
  refused('(unclosed', '', /RE2 syntax.*missing/);
  refused('a', 'y', /flags may be i, m and s/);
  refused('a', 'ii', /flags may be i, m and s/);
  refused('a'.repeat(MAX_PATTERN_LENGTH + 1), '', /longer than 1024 characters/);
  assert.equal(compileLinearRegex('\\\\1', '', F).test('\\1'), true, 'an escaped backslash then 1 is no backreference');
});

test('slash form: /pattern/flags, else plain text', () => {
  assert.deepEqual(splitSlashPattern('/a+/i'), { pattern: 'a+', flags: 'i' });
  assert.deepEqual(splitSlashPattern('/a/b/'), { pattern: 'a/b', flags: '' });
  for (const plain of ['ok', '/', '//', 'a/b/']) assert.equal(splitSlashPattern(plain), undefined, plain);
});
