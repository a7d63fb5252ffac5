import type { ServerSpec } from './snapshot.ts';

/**
 * Server id → place in a backend's list of server specs, kept per list (a WeakMap, so it goes
 * with the list) and handed on to a list derived from it with the same servers at the same
 * places (`handOn`): finding a server in a 10,000-server list is one lookup instead of a scan
 * after the first (issue 13 point 4). A handed-on map may also hold ids appended to a later
 * list; `placeOf` checks the id found at the place, so a stale entry answers -1 rather than a
 * wrong place.
 */
const places = new WeakMap<readonly ServerSpec[], Map<string, number>>();

function placesOf(list: readonly ServerSpec[]): Map<string, number> {
  let at = places.get(list);
  if (at === undefined) {
    at = new Map();
    for (let i = 0; i < list.length; i++) at.set(list[i]!.id, i);
    places.set(list, at);
  }
  return at;
}

/** The place of server `id` in `list`, or -1. Builds the list's map on first use (O(n)), then O(1). */
export function placeOf(list: readonly ServerSpec[], id: string): number {
  const i = placesOf(list).get(id);
  return i !== undefined && list[i]?.id === id ? i : -1;
}

/**
 * Hands `from`'s map on to `to`, which holds the same ids at the same places and possibly more
 * at the end (they are added). Nothing when `from` has no map yet.
 */
export function handOn(from: readonly ServerSpec[], to: readonly ServerSpec[]): void {
  const at = places.get(from);
  if (at === undefined) return;
  for (let i = from.length; i < to.length; i++) at.set(to[i]!.id, i);
  places.set(to, at);
}
