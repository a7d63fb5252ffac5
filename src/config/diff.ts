import type { ConfigState, ResourceKind, ResourceOf } from './model.ts';

/** Where each kind of resource lives in a ConfigState. */
export const StateKey: Record<ResourceKind, keyof Omit<ConfigState, 'version'>> = {
  loadBalancer: 'loadBalancers',
  frontend: 'frontends',
  backend: 'backends',
  server: 'servers',
  instance: 'instances',
  certificate: 'certificates',
};

/** The resources of one kind in `state` (the state's own array: edits go to the state). */
export function listOf<K extends ResourceKind>(state: ConfigState, kind: K): ResourceOf[K][] {
  return state[StateKey[kind]] as unknown as ResourceOf[K][];
}

/** A resource written whole: created or changed. */
export type Upsert = { [K in ResourceKind]: { kind: K; doc: ResourceOf[K] } }[ResourceKind];

/** What differs between two configurations, resource by resource. */
export interface ConfigDiff {
  upserts: Upsert[];
  deletes: { kind: ResourceKind; id: string }[];
}

/** A document as compared by the diff: its `version` (kept by the store) is not content. */
function content(d: { version?: number }): string {
  return JSON.stringify({ ...d, version: undefined });
}

/**
 * The diff between two states, as upserts (created or changed documents) and deletes. Pure.
 * A resource's `version` is ignored: only its content makes it changed.
 */
export function diffStates(before: ConfigState, after: ConfigState): ConfigDiff {
  const upserts: Upsert[] = [];
  const deletes: { kind: ResourceKind; id: string }[] = [];
  for (const kind of Object.keys(StateKey) as ResourceKind[]) {
    const old = new Map(listOf(before, kind).map((d) => [d.id, content(d)]));
    const now = new Set<string>();
    for (const d of listOf(after, kind)) {
      now.add(d.id);
      if (old.get(d.id) !== content(d)) upserts.push({ kind, doc: d } as Upsert);
    }
    for (const id of old.keys()) if (!now.has(id)) deletes.push({ kind, id });
  }
  return { upserts, deletes };
}
