import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

// DESIGN.md "Layout": dependencies point one way, core ← config ← {runtime, balancer,
// health, persistence} ← dataplane ← main; api → control → {store, config}; cli → declarative
// → config. This test reads the import lines of every non-test source file and keeps it so.
const SRC = path.resolve(import.meta.dirname, '../src');

/**
 * Folder → the folders of src/ it may import (besides itself), as DESIGN.md and src/README.md
 * lay them out. Everything else is refused, so a new edge is a decision made here.
 */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  config: ['core'],
  runtime: ['core', 'config'],
  balancer: ['core', 'config', 'runtime'],
  persistence: ['core', 'config', 'runtime', 'balancer'],
  health: ['core', 'config', 'runtime', 'balancer'],
  certificates: ['core', 'config'],
  dataplane: ['core', 'config', 'runtime', 'balancer', 'persistence', 'certificates'],
  store: ['core', 'config', 'runtime'],
  // workers/ runs data planes in worker threads for main.ts; the primary side reads runtime state only.
  workers: ['core', 'config', 'runtime', 'balancer', 'persistence', 'dataplane'],
  // control → {store, config}; the data plane only through ports.ts, whose types live in runtime/.
  control: ['core', 'config', 'runtime', 'store'],
  // api → control → {store, config}; never the data plane. `POST /apply` reads the file format (declarative/).
  api: ['core', 'config', 'control', 'store', 'certificates', 'declarative'],
  // declarative/ is the file format only (cli → declarative → config).
  declarative: ['core', 'config'],
  // cli/ reaches a running Fulcrum through its HTTP client; `serve` starts main.ts.
  cli: ['core', 'config', 'declarative', 'main.ts'],
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
    assert.deepEqual(folders, Object.keys(ALLOWED).sort());
  });

  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    it(`src/${folder} imports only ${allowed.join(', ') || 'nothing else'}`, () => {
      const bad: string[] = [];
      for (const file of files(path.join(SRC, folder))) {
        if (/test-(helpers|support)\.ts$/.test(file)) continue;
        for (const target of importsOf(file)) {
          const to = folderOf(target);
          if (to !== folder && !allowed.includes(to))
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
