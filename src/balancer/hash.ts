/**
 * A fast, allocation-free 32-bit string hash: FNV-1a over UTF-16 code units followed by
 * MurmurHash3's fmix32 finaliser (good avalanche, so `h % m` is well spread). Not
 * cryptographic: used for consistent hashing (A2, P1), never for security.
 *
 * `seed` gives independent hash families (Maglev needs two per server). Returns an unsigned
 * 32-bit integer.
 */
export function hashString(s: string, seed = 0, start = 0): number {
  let h = (0x811c9dc5 ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  for (let i = start; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hash of a client address for source-ip hashing (A1, P1): an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, as a dual-stack socket reports it) hashes like the plain IPv4
 * address, so every listener and node agrees. Allocation-free.
 */
export function hashClientKey(key: string): number {
  const mapped = key.length > 7 && key.charCodeAt(0) === 58 /* : */ && key.startsWith('::ffff:') && key.includes('.');
  return hashString(key, 0, mapped ? 7 : 0);
}
