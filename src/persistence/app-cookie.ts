import { findSetCookie } from './cookie.ts';
import { IdleLru } from './lru.ts';
import { DEFAULT_MAX_ENTRIES } from './source-ip.ts';

/**
 * App-cookie persistence (P2): learns, from the `Set-Cookie` headers of a server's responses,
 * which server issued each value of the application's cookie (`cookieName`, e.g. JSESSIONID),
 * and sends later requests carrying that value to the same server. Entries expire after
 * `timeoutSeconds` idle (0 = only the size bound) and the table is bounded (LRU). Values not
 * learned (yet, or on another node) are hashed consistently over the eligible servers by the
 * caller (`Balancer.pickHashed`), so they still stick.
 *
 * Times are ms epoch. Throws RangeError for a negative timeout or `maxEntries` < 1.
 */
export class AppCookiePersistence {
  readonly table: IdleLru<string>;
  cookieName: string;

  constructor(cookieName: string, timeoutSeconds: number, maxEntries = DEFAULT_MAX_ENTRIES) {
    this.cookieName = cookieName;
    this.table = new IdleLru(maxEntries, timeoutSeconds * 1000);
  }

  configure(cookieName: string, timeoutSeconds: number, maxEntries = DEFAULT_MAX_ENTRIES): void {
    if (cookieName !== this.cookieName) this.table.clear();
    this.cookieName = cookieName;
    this.table.configure(maxEntries, timeoutSeconds * 1000);
  }

  /** Server id learned for an application cookie value, refreshing its idle time. */
  lookup(value: string, now: number): string | undefined {
    return this.table.get(value, now);
  }

  remember(value: string, serverId: string, now: number): void {
    this.table.set(value, serverId, now);
  }

  /**
   * Learns from a response of `serverId`: when its `Set-Cookie` header(s) set the application
   * cookie, the value is remembered for that server. Returns the learned value, if any.
   */
  learn(setCookie: string | readonly string[] | undefined, serverId: string, now: number): string | undefined {
    const value = findSetCookie(setCookie, this.cookieName, now);
    if (value !== undefined) this.table.set(value, serverId, now);
    return value;
  }
}
