import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const SRC = join(import.meta.dirname, '..');

/** Every source file of the console (tests aside). */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('user-facing wording', () => {
  it('names rules in words: no SPEC ids (P2, S7, H3, SS1, …) outside code comments', () => {
    const found: string[] = [];
    for (const file of sources(SRC)) {
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '')
        .replace(/[^:'"`]\/\/ .*$/gm, '');
      for (const line of code.split('\n')) {
        if (/\b(?:SS|[ACFHLOPRSTU])\d{1,2}\b/.test(line)) found.push(`${relative(SRC, file)}: ${line.trim()}`);
      }
    }
    assert.deepEqual(found, []);
  });
});
