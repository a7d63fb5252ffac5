import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

// DESIGN.md "Layout": dependencies point one way, core ← config ← {runtime, balancer,
// health, persistence} ← dataplane ← main; api → control → {store, config}; cli → declarative
// → config. This test reads the import lines of every non-test source file and keeps it so.
const SRC = path.resolve(import.meta.dirname, '../src');

/** Folder → folders of src/ it must never import from. */
const FORBIDDEN: Record<string, string[]> = {
  core: [
    'config',
    'runtime',
    'balancer',
    'health',
    'persistence',
    'dataplane',
    'store',
    'control',
    'api',
    'cli',
    'certificates',
    'declarative',
  ],
  config: [
    'runtime',
    'balancer',
    'health',
    'persistence',
    'dataplane',
    'store',
    'control',
    'api',
    'cli',
    'certificates',
    'declarative',
  ],
  runtime: ['health', 'persistence', 'dataplane', 'store', 'control', 'api', 'cli'],
  balancer: ['health', 'persistence', 'dataplane', 'store', 'control', 'api', 'cli'],
  health: ['dataplane', 'store', 'control', 'api', 'cli'],
  persistence: ['health', 'dataplane', 'store', 'control', 'api', 'cli'],
  dataplane: ['store', 'control', 'api', 'cli'],
  store: ['dataplane', 'control', 'api', 'cli', 'health'],
  // control → {store, config}; the data plane only through ports.ts.
  control: ['dataplane', 'api', 'cli', 'declarative'],
  // declarative/ is the file format only (cli → declarative → config). `api` joins this list
  // once parse.ts's schemaErrorToFulcrum lives outside api/errors.ts.
  declarative: ['runtime', 'balancer', 'health', 'persistence', 'dataplane', 'store', 'control', 'cli', 'certificates'],
  // cli/ reaches a running Fulcrum through its HTTP client only (serve.ts starts main.ts).
  cli: ['runtime', 'balancer', 'health', 'persistence', 'dataplane', 'store', 'control', 'api', 'certificates'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? files(path.join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

describe('import direction (DESIGN.md)', () => {
  for (const [folder, forbidden] of Object.entries(FORBIDDEN)) {
    it(`src/${folder} imports none of ${forbidden.join(', ')}`, () => {
      const bad: string[] = [];
      for (const file of files(path.join(SRC, folder))) {
        if (/test-(helpers|support)\.ts$/.test(file)) continue;
        for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)) {
          const spec = m[1] as string;
          if (!spec.startsWith('.')) continue;
          const target = path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0] as string;
          if (forbidden.includes(target)) bad.push(`${path.relative(SRC, file)} → ${spec}`);
        }
      }
      assert.deepEqual(bad, []);
    });
  }
});
