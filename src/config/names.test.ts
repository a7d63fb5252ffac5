import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FulcrumError } from '../core/errors.ts';
import { emptyConfig } from './model.ts';
import { checkName, nameProblem, normalizeNewNames, sameName } from './names.ts';

describe('checkName', () => {
  it('answers the NFC form', () => {
    assert.equal(checkName('cafe\u0301'), 'caf\u00e9');
    assert.equal(checkName('web 1'), 'web 1');
    assert.equal(checkName('Ångström-東京'), 'Ångström-東京');
  });
  it('refuses with a 400 naming the field, the rule and the code point', () => {
    const cases: [string, RegExp][] = [
      ['', /1 to 64 characters/],
      ['x'.repeat(65), /1 to 64 characters/],
      [' web', /whitespace/],
      ['web\u00a0', /whitespace/],
      ['a\u0000b', /control characters.*U\+0000 at position 2/],
      ['a\tb', /control characters.*U\+0009/],
      ['a\u007fb', /control characters.*U\+007F/],
      ['a\u0085b', /control characters.*U\+0085/],
      ['a\u202eb', /bidirectional.*U\+202E/],
      ['a\u2066b', /bidirectional.*U\+2066/],
      ['a\u200fb', /bidirectional.*U\+200F/],
      ['a\u061cb', /bidirectional.*U\+061C/],
      ['a\u200bb', /zero-width.*U\+200B/],
      ['a\u2060b', /zero-width.*U\+2060/],
      ['\ufeffweb', /zero-width.*U\+FEFF at position 1/],
      ['a\u2028b', /line or paragraph/],
      ['shop/web', /"\/"/],
      ['a\ud800b', /well-formed/],
    ];
    for (const [name, rule] of cases) {
      assert.throws(
        () => checkName(name, 'name'),
        (e: unknown) => e instanceof FulcrumError && e.code === 'invalid' && e.field === 'name' && rule.test(e.message),
        JSON.stringify(name),
      );
    }
  });
  it('keeps a longer limit where one exists (certificates)', () => {
    assert.equal(nameProblem('x'.repeat(100), 100), undefined);
    assert.match(nameProblem('x'.repeat(101), 100) ?? '', /1 to 100/);
  });
  it('names the field it is given', () => {
    assert.throws(() => checkName(42, 'tokens.name'), /^FulcrumError: tokens\.name: must be a string/);
  });
});

describe('sameName and normalizeNewNames', () => {
  it('compares NFC forms', () => {
    assert.ok(sameName('cafe\u0301', 'caf\u00e9'));
    assert.ok(!sameName('cafe', 'café'));
  });
  it('normalises new and renamed resources only', () => {
    const before = emptyConfig();
    before.instances.push({
      id: 'i1',
      name: 'old\u0301',
      privateIp: '10.0.0.1',
      zone: null,
      os: null,
      serverType: 'web',
    });
    const after = structuredClone(before);
    after.instances.push({
      id: 'i2',
      name: 'new\u0301',
      privateIp: '10.0.0.2',
      zone: null,
      os: null,
      serverType: 'web',
    });
    normalizeNewNames(before, after);
    assert.equal(after.instances[0]?.name, 'old\u0301', 'restored name left as is');
    assert.equal(after.instances[1]?.name, 'new\u0301'.normalize('NFC'));
  });
});
