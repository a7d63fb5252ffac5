/**
 * Servers changed together (issue 15 point 1): the servers table's actions on its selection
 * and the Add Backend Server dialog's several inventory instances are each ONE request,
 * `POST /backends/{id}/servers/batch`, applied as one change (one configuration version) or
 * refused whole, the refusal naming every failing item (`details[].index`, `field`
 * `add[2].port`). This turns a selection into that body and a refusal into words about the
 * servers it names.
 */
import type { ApiError } from './api.ts';
import type { Instance } from './types.ts';

/** What the table can do to its selection. */
export type BatchAction = 'drain' | 'disable' | 'enable' | 'remove' | 'weight';

/** A server as the batch needs it: its id and, for messages, its name. */
export interface Selected {
  id: string;
  name: string;
}

/** The body of `POST …/servers/batch`. */
export interface BatchBody {
  add?: Record<string, unknown>[];
  update?: Record<string, unknown>[];
  remove?: string[];
  drain?: string[];
}

/** The batch of one table action on the selected servers (`weight` for Set weight). */
export function actionBatch(action: BatchAction, selected: readonly Selected[], weight?: number): BatchBody {
  const ids = selected.map((s) => s.id);
  switch (action) {
    case 'drain':
      return { drain: ids };
    case 'remove':
      return { remove: ids };
    case 'disable':
    case 'enable':
      return { update: ids.map((id) => ({ id, enabled: action === 'enable' })) };
    case 'weight':
      return { update: ids.map((id) => ({ id, weight })) };
  }
}

/** Past-tense words of an action, for the notice: `3 servers drained`. */
export const ActionDone: Record<BatchAction, string> = {
  drain: 'draining',
  disable: 'disabled',
  enable: 'enabled',
  remove: 'removed',
  weight: 're-weighted',
};

/**
 * The add items for several inventory instances: the dialog's other fields (`common`: port,
 * weight, passive, tags…) for each, named and typed after its instance, in its zone unless the
 * operator chose one.
 */
export function instancesBatch(
  common: Record<string, unknown>,
  picked: readonly Instance[],
): { add: Record<string, unknown>[] } {
  const { name: _n, address: _a, instanceId: _i, ...rest } = common;
  return {
    add: picked.map((i) => ({
      ...rest,
      name: i.name,
      serverType: i.serverType,
      instanceId: i.id,
      ...(rest.zone === undefined && i.zone ? { zone: i.zone } : {}),
    })),
  };
}

/** One problem of a refused batch as the API lists it. */
interface Detail {
  field?: string;
  rule?: string;
  message?: string;
  index?: number;
}

/**
 * A refused batch in words, one line per problem, each naming the server it is about
 * (`web-2: weight: must be an integer from 0 to 100`): `names[list][index]` names the item
 * (the selected server, the picked instance). A refusal without details is its message.
 */
export function batchProblems(err: ApiError, names: Partial<Record<keyof BatchBody, readonly string[]>>): string[] {
  const details: Detail[] = err.details;
  if (details.length === 0) return [err.message];
  return details.map((d) => {
    const m = /^(add|update|remove|drain)\[(\d+)\]\.?(.*)$/.exec(d.field ?? '');
    if (!m) return d.message ?? d.rule ?? err.message;
    const list = m[1] as keyof BatchBody;
    const who = names[list]?.[Number(m[2])] ?? `${list}[${m[2]}]`;
    const field = m[3] ? `${m[3]}: ` : '';
    return `${who}: ${field}${d.rule ?? d.message ?? ''}`;
  });
}
