import { readFileSync, writeFileSync } from 'node:fs';
import { cliReference, withReference } from './help.ts';
import { buildProgram } from './main.ts';

/**
 * The CLI reference of the README, generated from `--help` (issue 16 point 2):
 * `node src/cli/reference.ts` prints it as Markdown; `--write README.md` replaces the block
 * between the cli-reference markers; `--check README.md` exits 1 when that block is stale.
 */

/** The reference as the README holds it: built without FULCRUM_URL so defaults read the same everywhere. */
export function reference(): string {
  delete process.env.FULCRUM_URL;
  return cliReference(buildProgram());
}

if (import.meta.main) {
  const [mode, file] = process.argv.slice(2);
  const text = reference();
  if (mode === '--write' || mode === '--check') {
    if (!file) throw new Error(`${mode} needs the README path`);
    const before = readFileSync(file, 'utf8');
    const after = withReference(before, text);
    if (mode === '--write') writeFileSync(file, after);
    else if (after !== before) {
      console.error(`${file}: the CLI reference is stale; run node src/cli/reference.ts --write ${file}`);
      process.exitCode = 1;
    }
  } else process.stdout.write(text);
}
