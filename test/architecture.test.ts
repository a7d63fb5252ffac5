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
  // declarative/ is the file format only (cli → declarative → config).
  declarative: [
    'runtime',
    'balancer',
    'health',
    'persistence',
    'dataplane',
    'store',
    'control',
    'cli',
    'certificates',
    'api',
  ],
  // api → control → {store, config}; the data plane only through control's port.
  api: ['runtime', 'balancer', 'health', 'persistence', 'dataplane', 'cli', 'declarative'],
  // PEM parsing and secrets at rest: config types only.
  certificates: [
    'runtime',
    'balancer',
    'health',
    'persistence',
    'dataplane',
    'store',
    'control',
    'api',
    'cli',
    'declarative',
  ],
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

/** The relative imports and re-exports of a file (type-only ones included), resolved to paths. */
function importsOf(file: string): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)) {
    const spec = m[1] as string;
    if (spec.startsWith('.')) out.push(path.resolve(path.dirname(file), spec));
  }
  return out;
}

/** The first folder of src/ a path is in (`main.ts` for top-level files). */
function folderOf(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0] as string;
}

/** Strongly connected components with more than one member (Tarjan): each one is an import cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import direction (DESIGN.md)', () => {
  it('every folder of src/ has its rule here', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    assert.deepEqual(folders, Object.keys(FORBIDDEN).sort());
  });

  for (const [folder, forbidden] of Object.entries(FORBIDDEN)) {
    it(`src/${folder} imports none of ${forbidden.join(', ')}`, () => {
      const bad: string[] = [];
      for (const file of files(path.join(SRC, folder))) {
        if (/test-(helpers|support)\.ts$/.test(file)) continue;
        for (const target of importsOf(file)) {
          if (forbidden.includes(folderOf(target)))
            bad.push(`${path.relative(SRC, file)} → ${path.relative(SRC, target)}`);
        }
      }
      assert.deepEqual(bad, []);
    });
  }

  it('the cycle finder finds cycles (so the two checks below can fail)', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a', 'd']],
      ['e', []],
    ]);
    assert.deepEqual(cycles(g), [['a', 'b', 'c']]);
  });

  it('no module imports itself through others (no cycle between files, type imports included)', () => {
    const graph = new Map(files(SRC).map((f) => [f, importsOf(f)]));
    assert.deepEqual(
      cycles(graph).map((c) => c.map((f) => path.relative(SRC, f))),
      [],
    );
  });

  it('no two folders import each other, directly or around a circle', () => {
    const graph = new Map<string, string[]>();
    for (const f of files(SRC)) {
      const from = folderOf(f);
      if (from.endsWith('.ts')) continue; // main.ts and its start-up helpers sit on top
      const to = new Set(graph.get(from) ?? []);
      for (const t of importsOf(f)) {
        const folder = folderOf(t);
        if (folder !== from && !folder.endsWith('.ts')) to.add(folder);
      }
      graph.set(from, [...to]);
    }
    assert.deepEqual(cycles(graph), []);
  });
});
