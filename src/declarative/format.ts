import { KindLabel, type Plan, type PlanStep } from './plan.ts';

/**
 * Rendering a plan as a readable diff (SPEC C4 "dry-run diff"):
 *
 * ```
 * + create backend "shop/web"
 *     mode: http
 * ~ update server "shop/web/web-1"
 *     weight: 2 → 3
 * - delete server "shop/web/web-3"
 * 3 changes: 1 to create, 1 to update, 1 to delete.
 * ```
 * References show the referenced resource's name instead of its id.
 */

/** A value as one line of JSON, with known ids replaced by names. */
export function showValue(v: unknown, names: ReadonlyMap<string, string>): string {
  if (v === undefined) return '(unset)';
  return JSON.stringify(v, (_k, x) => (typeof x === 'string' && names.has(x) ? names.get(x) : x));
}

/** `create backend "shop/web"`. */
export function stepTitle(step: PlanStep): string {
  const note = step.note ? ` (${step.note})` : '';
  return `${step.op} ${KindLabel[step.kind]} "${step.name}"${note}`;
}

const SIGN = { create: '+', update: '~', delete: '-' } as const;

/** The diff lines of a plan; `No changes.` when it is empty. */
export function formatPlan(plan: Plan): string[] {
  if (plan.steps.length === 0) return ['No changes: the configuration already matches the file.'];
  const lines: string[] = [];
  for (const s of plan.steps) {
    lines.push(`${SIGN[s.op]} ${stepTitle(s)}`);
    for (const c of s.changes) {
      lines.push(
        s.op === 'create'
          ? `    ${c.field}: ${showValue(c.after, plan.names)}`
          : `    ${c.field}: ${showValue(c.before, plan.names)} → ${showValue(c.after, plan.names)}`,
      );
    }
  }
  const n = (op: PlanStep['op']) => plan.steps.filter((s) => s.op === op).length;
  const total = plan.steps.length;
  lines.push(
    `${total} change${total === 1 ? '' : 's'}: ${n('create')} to create, ${n('update')} to update, ${n('delete')} to delete.`,
  );
  return lines;
}
