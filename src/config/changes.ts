import { type ConfigDiff, StateKey, type Upsert } from './diff.ts';
import type { ConfigState, ResourceKind } from './model.ts';

/**
 * What a change touched, found by reference (issue 13 point 4): the change pipeline edits a
 * draft whose arrays are copies of the state's but whose documents are the state's own, and a
 * change replaces a document rather than editing it. So, per kind, the documents before and
 * after that are not the same object at the same place — the middle left once the common
 * prefix and suffix are skipped — are all a change can have touched. A one-server PATCH
 * touches one document whatever the size of the configuration.
 */
export interface Touched {
  /** Per kind: the documents of the state before that are not where they were (changed, deleted or moved). */
  readonly before: Readonly<Record<ResourceKind, readonly { id: string }[]>>;
  /** Per kind: the documents after that are new objects or moved (changed, created or moved). */
  readonly after: Readonly<Record<ResourceKind, readonly { id: string }[]>>;
  /** Per kind: where the middle starts in the array after (the prefix length). */
  readonly start: Readonly<Record<ResourceKind, number>>;
}

const Kinds = Object.keys(StateKey) as ResourceKind[];

/** A draft of `state` for a change: its own arrays, the state's documents (replace them, never edit them). */
export function shallowDraft(state: ConfigState): ConfigState {
  return {
    version: state.version,
    loadBalancers: [...state.loadBalancers],
    frontends: [...state.frontends],
    backends: [...state.backends],
    servers: [...state.servers],
    instances: [...state.instances],
    certificates: [...state.certificates],
  };
}

/** The documents a change may have touched (see Touched). */
export function touched(before: ConfigState, after: ConfigState): Touched {
  const b = {} as Record<ResourceKind, { id: string }[]>;
  const a = {} as Record<ResourceKind, { id: string }[]>;
  const s = {} as Record<ResourceKind, number>;
  for (const kind of Kinds) {
    const x = before[StateKey[kind]] as readonly { id: string }[];
    const y = after[StateKey[kind]] as readonly { id: string }[];
    let start = 0;
    const max = Math.min(x.length, y.length);
    while (start < max && x[start] === y[start]) start++;
    let ex = x.length;
    let ey = y.length;
    while (ex > start && ey > start && x[ex - 1] === y[ey - 1]) {
      ex--;
      ey--;
    }
    b[kind] = x.slice(start, ex);
    a[kind] = y.slice(start, ey);
    s[kind] = start;
  }
  return { before: b, after: a, start: s };
}

/** A document as compared by the diff: its `version` (kept by the store) is not content. */
function content(d: { id: string; version?: number }): string {
  return JSON.stringify({ ...d, version: undefined });
}

/**
 * The diff of a change from what it touched: the same upserts and deletes as
 * `diffStates(before, after)` (diff.ts) when the ids of each kind are unique, in the same
 * order, at the cost of the touched documents only.
 */
export function diffTouched(t: Touched): ConfigDiff {
  const upserts: Upsert[] = [];
  const deletes: { kind: ResourceKind; id: string }[] = [];
  for (const kind of Kinds) {
    const old = new Map(t.before[kind].map((d) => [d.id, d]));
    const now = new Set<string>();
    for (const d of t.after[kind]) {
      now.add(d.id);
      const was = old.get(d.id);
      if (was === d) continue;
      if (!was || content(was) !== content(d)) upserts.push({ kind, doc: d } as Upsert);
    }
    for (const d of t.before[kind]) if (!now.has(d.id)) deletes.push({ kind, id: d.id });
  }
  // diffStates lists upserts kind by kind in state order and deletes in the order before:
  // both hold here (the middle keeps the order of its array).
  return { upserts, deletes };
}
