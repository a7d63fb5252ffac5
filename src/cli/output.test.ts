import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { logFormat } from '../core/log.ts';
import { ApiRefusal, ApiUnreachable, ExitCode, exitCodeOf, NameError, UsageError } from './api-client.ts';
import { fields } from './commands.ts';
import { completeArgs, completionScript } from './completion.ts';
import { allCommands, examples, examplesFor, helpText, withReference } from './help.ts';
import { age, colorOn, dash, parseFormat, renderData, renderTable } from './output.ts';
import { pathOf, pick } from './resolve.ts';

describe('cli output', () => {
  const rows = [
    { name: 'web-1', n: 1, h: 'healthy' },
    { name: 'web-10', n: 100, h: 'unhealthy' },
  ];
  const cols = [
    { header: 'name', cell: (r: (typeof rows)[0]) => r.name },
    { header: 'n', cell: (r: (typeof rows)[0]) => String(r.n), num: true },
    { header: 'health', cell: (r: (typeof rows)[0]) => r.h, color: () => 'green' as const },
    { header: 'more', cell: () => 'x', wide: true },
  ];

  test('tables align columns, right-align numbers, show wide columns only when asked', () => {
    assert.equal(
      renderTable(rows, cols),
      ['NAME       N   HEALTH', 'web-1      1   healthy', 'web-10   100   unhealthy'].join('\n'),
    );
    assert.match(renderTable(rows, cols, { wide: true }).split('\n')[0]!, /HEALTH\s+MORE$/);
    assert.equal(renderTable([], cols), 'NAME   N   HEALTH');
  });

  test('colour codes take no width', () => {
    const coloured = renderTable(rows, [...cols.slice(2), cols[0]!], { color: true }).split('\n');
    assert.equal(coloured[1], '\x1b[32mhealthy\x1b[0m     web-1');
  });

  test('colour: FORCE_COLOR, then NO_COLOR, then a TTY', () => {
    assert.equal(colorOn({ isTTY: true }, {}), true);
    assert.equal(colorOn({ isTTY: false }, {}), false);
    assert.equal(colorOn({ isTTY: true }, { NO_COLOR: '1' }), false);
    assert.equal(colorOn({ isTTY: true }, { NO_COLOR: '' }), true);
    assert.equal(colorOn({ isTTY: false }, { FORCE_COLOR: '1' }), true);
    assert.equal(colorOn({ isTTY: true }, { FORCE_COLOR: '0' }), true);
  });

  test('formats, json/yaml, dashes and ages', () => {
    assert.equal(parseFormat('yaml'), 'yaml');
    assert.throws(() => parseFormat('xml'), UsageError);
    assert.equal(renderData({ a: [1] }, 'json'), '{\n  "a": [\n    1\n  ]\n}');
    assert.equal(renderData({ a: [1] }, 'yaml'), 'a:\n  - 1');
    assert.equal(dash(null), '-');
    assert.equal(dash(0), '0');
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(age(null, now), '-');
    assert.equal(age('2025-12-31T23:59:50Z', now), '10s');
    assert.equal(age('2025-12-31T23:50:00Z', now), '10m');
    assert.equal(age('2025-12-31T20:00:00Z', now), '4h');
    assert.equal(age('2025-12-20T00:00:00Z', now), '12d');
    assert.equal(age('not a time', now), '-');
  });
});

describe('cli names and errors', () => {
  const list = [
    { id: 'be-1', name: 'web' },
    { id: 'be-2', name: 'api' },
    { id: 'be-3', name: 'api' },
  ];
  test('pick: by id first, then by a unique name; none or several is a NameError', () => {
    assert.equal(pick(list, 'be-2', 'backend').id, 'be-2');
    assert.equal(pick(list, 'web', 'backend').id, 'be-1');
    assert.throws(() => pick(list, 'db', 'backend', ' in "shop"'), {
      name: 'NameError',
      message: 'no backend named "db" in "shop"',
    });
    assert.throws(() => pick(list, 'api', 'backend'), /"api" names 2 backends.*be-2, be-3/);
    assert.equal(pathOf({ id: 'a', name: 'shop' }, undefined, { id: 'b', name: 'web' }), 'shop/web');
  });

  test('exit codes by error', () => {
    assert.equal(exitCodeOf(new ApiRefusal(400, 'invalid', 'weight: too big')), ExitCode.refused);
    assert.equal(exitCodeOf(new UsageError('x')), 2);
    assert.equal(exitCodeOf(new ApiUnreachable('http://h', new Error('boom'))), 3);
    assert.equal(exitCodeOf(new NameError('x')), 4);
    assert.equal(exitCodeOf(new Error('x')), 1);
    const e = new ApiUnreachable('http://h:1', { cause: { code: 'ECONNREFUSED' } });
    assert.equal(e.message, 'cannot reach the API at http://h:1: ECONNREFUSED');
    const t = new ApiUnreachable('http://h:1', Object.assign(new Error('x'), { name: 'TimeoutError' }));
    assert.match(t.message, /no answer within the timeout/);
  });

  test('fields: typed key=value pairs', () => {
    assert.deepEqual(fields(['weight=3', 'passive=true', 'zone=null', 'name=web-1', 'ok=false']), {
      weight: 3,
      passive: true,
      zone: null,
      name: 'web-1',
      ok: false,
    });
    assert.throws(() => fields(['=3']), UsageError);
  });

  test('log format: the flag, then FULCRUM_LOG_FORMAT, then pretty on a TTY only', () => {
    assert.equal(logFormat('json', {}, true), 'json');
    assert.equal(logFormat(undefined, { FULCRUM_LOG_FORMAT: 'pretty' }, false), 'pretty');
    assert.equal(logFormat(undefined, {}, true), 'pretty');
    assert.equal(logFormat(undefined, {}, false), 'json');
  });
});

describe('cli help and completion', () => {
  const program = () => {
    const p = new Command('demo');
    examples(p.command('run').description('run it').option('-f, --file <file>', 'a file'), ['demo run -f x']);
    const group = p.command('group').description('a group: with colon');
    completeArgs(group.command('show <what>').option('--mode <m>', 'mode'), ['alpha', 'beta']);
    return p;
  };

  test('examples are in --help and listed; every command is walked', () => {
    const p = program();
    const run = p.commands[0]!;
    assert.deepEqual(examplesFor(run), ['demo run -f x']);
    assert.match(helpText(run), /\nExamples:\n {2}\$ demo run -f x\n/);
    assert.deepEqual(
      allCommands(p).map((c) => c.name),
      ['demo', 'demo run', 'demo group', 'demo group show'],
    );
    assert.equal(
      withReference(
        'a\n<!-- cli-reference:start (generated by: node src/cli/reference.ts --write README.md) -->old<!-- cli-reference:end -->\nz',
        'NEW',
      ).includes('\n\nNEW\n<!-- cli-reference:end -->'),
      true,
    );
    assert.throws(() => withReference('no markers', 'x'), /no <!-- cli-reference:start/);
  });

  test('completion scripts name every command, flag and argument word', () => {
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      const s = completionScript(program(), shell);
      for (const w of ['run', 'group', 'show', 'alpha', 'mode', 'file']) assert.ok(s.includes(w), `${shell}: ${w}`);
    }
    assert.match(completionScript(program(), 'bash'), /"demo run:-f"\|"demo run:--file"\) COMPREPLY=\(\$\(compgen -f/);
    assert.match(completionScript(program(), 'zsh'), /'group:a group: with colon'/);
    assert.match(completionScript(program(), 'fish'), /-l file -r -F/);
  });
});
