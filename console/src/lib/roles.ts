/**
 * What the signed-in token's role allows the console to offer (API.md "More of the contract"):
 * a viewer reads; an operator also changes servers (add, update, enable, disable, drain,
 * remove); an admin does everything. The API enforces this (403); the console only hides the
 * buttons a role cannot use.
 */

/** Which kinds of change buttons to show. */
export interface Permissions {
  /** Add / update / enable / disable / drain / remove servers (operator, admin). */
  changeServers: boolean;
  /** Create / edit / delete load balancers, frontends, backends, instances, certificates (admin). */
  changeConfig: boolean;
}

/**
 * Permissions of a role (`GET /api/v1/session` → `{ name, role }`). An unknown or missing role
 * gets the least: read only.
 */
export function permissions(role: string | null | undefined): Permissions {
  if (role === 'admin') return { changeServers: true, changeConfig: true };
  if (role === 'operator') return { changeServers: true, changeConfig: false };
  return { changeServers: false, changeConfig: false };
}
