import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import {
  DeclarativeFileError,
  MAX_DECLARATIVE_FILE_BYTES,
  MAX_YAML_ALIAS_COUNT,
  MAX_YAML_DEPTH,
  parseDeclarative,
  readDeclarativeFile,
} from '../src/declarative/parse.ts';
import { removeDir, startTestFulcrum, type TestFulcrum } from './helpers/fulcrum.ts';

/**
 * Issue 10 point 5: declarative files (`fulcrum apply -f`, `fulcrum serve --config`) cannot
 * exhaust the process. A 5 MiB file took 15 s and 650 MB, 50 MiB ran out of memory, and a
 * "billion laughs" alias bomb expands exponentially. Files over 4 MiB are refused from their
 * size before being read, alias expansion and nesting are bounded; nothing is applied.
 */

const CLI = path.resolve(import.meta.dirname, '../src/cli/main.ts');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** A valid file naming one load balancer (so "nothing applied" is visible when refused). */
const valid = 'loadBalancers:\n  - name: shop\n    allowedNetworks: [127.0.0.0/8]\n';

/** Classic "billion laughs": 9 levels of 9 aliases each, 9^9 ≈ 387 million strings once expanded. */
function aliasBomb(): string {
  let s = `${valid}lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n`;
  for (let i = 1; i < 10; i++)
    s += `lol${i}: &l${i} [${Array(9)
      .fill(`*l${i - 1}`)
      .join(', ')}]\n`;
  return s;
}

/** A sparse file of `bytes` (no disk used): only its size is real. */
function sparse(file: string, bytes: number): string {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  return file;
}

const refusedWith = (re: RegExp) => (err: unknown) => {
  assert.ok(err instanceof DeclarativeFileError, String(err));
  assert.match((err as Error).message, re);
  return true;
};

describe('declarative file limits (issue 10)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-decl-limits-'));
  });
  after(() => removeDir(dir));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('the limits are exported constants', () => {
    assert.equal(MAX_DECLARATIVE_FILE_BYTES, 4 * 1024 * 1024);
    assert.equal(MAX_YAML_ALIAS_COUNT, 100);
    assert.equal(MAX_YAML_DEPTH, 64);
  });

  test('a file over 4 MiB is refused from its size, before it is read', () => {
    const big = sparse(path.join(dir, 'huge.yaml'), 1024 * 1024 * 1024); // 1 GiB: reading it would take seconds
    const t0 = performance.now();
    assert.throws(
      () => readDeclarativeFile(big),
      refusedWith(/huge\.yaml: the file is 1073741824 bytes; .*at most 4 MiB/),
    );
    assert.ok(performance.now() - t0 < 500, 'refused from fstat, not by reading');
    // Exactly at the limit is accepted (as text; the YAML is a comment).
    const edge = file('edge.yaml', `#${'x'.repeat(MAX_DECLARATIVE_FILE_BYTES - 2)}\n`);
    assert.equal(readDeclarativeFile(edge).length, MAX_DECLARATIVE_FILE_BYTES);
    assert.throws(() => readDeclarativeFile(path.join(dir, 'nope.yaml')), refusedWith(/nope\.yaml: cannot read/));
  });

  test('a stream without a size (a device) is read at most to the limit', { skip: !existsSync('/dev/zero') }, () => {
    assert.throws(() => readDeclarativeFile('/dev/zero'), refusedWith(/\/dev\/zero: the file is more than 4 MiB/));
  });

  test('text over the limit is refused by parseDeclarative too (the API body shares the limit)', () => {
    const text = `# ${'é'.repeat(MAX_DECLARATIVE_FILE_BYTES / 2)}\n`; // fewer characters than bytes
    assert.throws(() => parseDeclarative(text, 'body'), refusedWith(/body: the file is \d+ bytes; .*4 MiB/));
  });

  test('an alias bomb is refused without being expanded; a few aliases still work', () => {
    const t0 = performance.now();
    assert.throws(
      () => parseDeclarative(aliasBomb(), 'bomb.yaml'),
      refusedWith(/bomb\.yaml: YAML aliases expand to too many nodes \(more than 100 alias expansions\)/),
    );
    assert.ok(performance.now() - t0 < 2000);
    const ok = parseDeclarative(
      `loadBalancers:
  - name: shop
    backends:
      - { name: a, mode: http, healthCheck: &hc { enabled: false } }
      - { name: b, mode: http, healthCheck: *hc }
`,
      'ok.yaml',
    );
    assert.deepEqual(
      ok.loadBalancers[0]?.backends.map((b) => b.fields.healthCheck),
      [{ enabled: false }, { enabled: false }],
    );
  });

  test('nesting deeper than 64 levels and a second document are refused at once', () => {
    for (const deep of [
      `a: ${'['.repeat(2_000_000)}`,
      `${'- '.repeat(2_000_000)}x`,
      `a: ${'{a: '.repeat(1_000_000)}`,
    ]) {
      const t0 = performance.now();
      assert.throws(
        () => parseDeclarative(deep, 'deep.yaml'),
        refusedWith(/deep\.yaml: YAML nested more than 64 levels/),
      );
      assert.ok(performance.now() - t0 < 2000, 'stopped at the limit, not after parsing 4 MB');
    }
    assert.throws(
      () => parseDeclarative(`${valid}---\n${valid}`, 'two.yaml'),
      refusedWith(
        /two\.yaml: not valid YAML or JSON: a declarative file is one YAML document; another starts at line 4/,
      ),
    );
    assert.throws(
      () => parseDeclarative('loadBalancers: [', 'bad.yaml'),
      refusedWith(/bad\.yaml: not valid YAML or JSON: .* at line \d+, column \d+/),
    );
  });

  describe('fulcrum apply -f', () => {
    let t: TestFulcrum;
    before(async () => {
      t = await startTestFulcrum();
    });
    after(() => t.close());
    const apply = (f: string) => cli(['apply', '-f', f, '--url', t.fulcrum.apiUrl, '--token', t.token]);

    test('a file over 4 MiB exits 2 at once with the limit, nothing applied', async () => {
      const r = await apply(sparse(path.join(dir, 'apply-huge.yaml'), 64 * 1024 * 1024));
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /apply-huge\.yaml: the file is 67108864 bytes; a declarative configuration file may hold at most 4 MiB/,
      );
      assert.equal(r.stdout, '', 'no plan printed');
      assert.ok(r.ms < 15_000, `took ${Math.round(r.ms)} ms`);
      assert.equal(t.fulcrum.control.version, 0);
    });

    test('an alias bomb exits 2 naming the alias limit, nothing applied', async () => {
      const r = await apply(file('apply-bomb.yaml', aliasBomb()));
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /apply-bomb\.yaml: YAML aliases expand to too many nodes/);
      assert.equal(t.fulcrum.control.version, 0);
      assert.deepEqual(await t.ok('GET', '/load-balancers'), []);
    });
  });

  describe('fulcrum serve --config', () => {
    const start = (dataDir: string, configFile?: string, t?: TestContext) =>
      startTestFulcrum({ dataDir, adminToken: 'declarative-limits-token-0123456789', configFile, t });

    for (const [name, make, want] of [
      [
        'huge',
        () => sparse(path.join(dir, 'serve-huge.yaml'), 64 * 1024 * 1024),
        /serve-huge\.yaml: the file is 67108864 bytes; .*at most 4 MiB/,
      ],
      ['bomb', () => file('serve-bomb.yaml', aliasBomb()), /serve-bomb\.yaml: YAML aliases expand to too many nodes/],
    ] as const) {
      test(`a ${name} file stops the start with the limit and stores nothing`, async (t) => {
        const dataDir = path.join(dir, `serve-${name}`);
        await assert.rejects(start(dataDir, make()), refusedWith(want));
        const f = (await start(dataDir, undefined, t)).fulcrum;
        assert.equal(f.control.version, 0, 'nothing was stored');
        assert.deepEqual(f.control.state.loadBalancers, []);
      });
    }
  });
});
