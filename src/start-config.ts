import path from 'node:path';
import type { ControlPlane } from './control/control-plane.ts';
import { FulcrumError } from './core/errors.ts';
import { stepTitle } from './declarative/format.ts';
import { DeclarativeFileError, parseDeclarative, readDeclarativeFile } from './declarative/parse.ts';
import { applyPlanToState, type PlanStep, planApply } from './declarative/plan.ts';

/** What `applyConfigFile` did. */
export interface FileApplied {
  /** The configVersion after the apply (unchanged when nothing differed). */
  configVersion: number;
  /** The steps applied, in order (empty when the configuration already matched). */
  steps: PlanStep[];
}

/**
 * `fulcrum serve --config FILE` (API.md "Starting it", SPEC C4): applies a declarative file
 * through the control plane — create and update, never delete — as ONE change (one
 * configVersion, one audit row `apply config/<file name>` by actor `config-file`), so a file
 * that any rule refuses changes nothing. Throws DeclarativeFileError for an unreadable, too
 * large (MAX_DECLARATIVE_FILE_BYTES, read bounded) or invalid file (message names the path
 * in the file), FulcrumError when a rule refuses the result (prefixed with the file name).
 */
export async function applyConfigFile(control: ControlPlane, file: string): Promise<FileApplied> {
  const parsed = parseDeclarative(readDeclarativeFile(file), file);
  try {
    const r = await control.change('config-file', 'apply', (draft) => {
      const plan = planApply(parsed, draft, { prune: false });
      applyPlanToState(draft, plan);
      return {
        result: plan.steps,
        kind: 'config',
        id: path.basename(file),
        before: null,
        after: { file, changes: plan.steps.map(stepTitle) },
      };
    });
    return { configVersion: r.configVersion, steps: r.resource };
  } catch (err) {
    if (err instanceof DeclarativeFileError || !(err instanceof FulcrumError)) throw err;
    throw new FulcrumError(err.code, `${file}: refused: ${err.message}`, err.field);
  }
}
