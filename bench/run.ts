// `npm run bench`: Fulcrum beside HAProxy and nginx on the same backends, through the shared
// harness (../shared/bench/compare.mjs). Installs the harness's tools first if they are missing.
// Quote the ratios it prints, never absolute figures (bench/RESULTS.md).
//   npm run bench                                   # full run, about 8 minutes
//   ROUNDS=1 DURATION=5 TARGETS=fulcrum-http npm run bench   # quick look
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.FULCRUM_SHARED ?? path.resolve(root, '../shared');
const harness = path.join(shared, 'bench/compare.mjs');
if (!existsSync(harness)) {
  console.error(`bench: ${harness} not found (set FULCRUM_SHARED to the shared folder)`);
  process.exit(2);
}
const setup = spawnSync('bash', [path.join(shared, 'bench/setup.sh')], { stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const run = spawnSync(process.execPath, [harness], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, FULCRUM_DIR: root },
});
process.exit(run.status ?? 1);
