import { IdleLru } from './lru.ts';

/** Default bound of a persistence table per backend (entries). */
export const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * Normalises a client address for persistence keys: an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`) becomes the IPv4 address, so dual-stack and IPv4 listeners agree.
 */
export function clientKey(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Source-IP persistence table (P1): client address → server id, kept until the client has
 * been idle longer than `timeoutSeconds` (0 = no idle expiry, only the size bound) and bounded
 * to `maxEntries` (least recently used evicted). The first choice for a new client comes from
 * the backend's consistent hash (P5: every worker and node agrees without sharing this table);
 * the table only keeps clients where they are when the server set changes.
 *
 * Times are ms epoch. Throws RangeError for a negative timeout or `maxEntries` < 1.
 */
export class SourceIpPersistence {
  readonly table: IdleLru<string>;

  constructor(timeoutSeconds: number, maxEntries = DEFAULT_MAX_ENTRIES) {
    this.table = new IdleLru(maxEntries, timeoutSeconds * 1000);
  }

  configure(timeoutSeconds: number, maxEntries = DEFAULT_MAX_ENTRIES): void {
    this.table.configure(maxEntries, timeoutSeconds * 1000);
  }

  /** The server id persisted for `clientAddress`, refreshing its idle time; undefined when none or expired. */
  lookup(clientAddress: string, now: number): string | undefined {
    return this.table.get(clientKey(clientAddress), now);
  }

  /** Persists `clientAddress` → `serverId` as of `now`. */
  remember(clientAddress: string, serverId: string, now: number): void {
    this.table.set(clientKey(clientAddress), serverId, now);
  }

  forget(clientAddress: string): void {
    this.table.delete(clientKey(clientAddress));
  }
}
