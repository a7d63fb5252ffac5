import tls from 'node:tls';
import { privateKeyOf } from '../../certificates/service.ts';
import type { Certificate } from '../../config/model.ts';

/**
 * Modern TLS 1.2 cipher suites (forward secret AEAD only; TLS 1.3 suites are Node's
 * defaults: AES-GCM and ChaCha20-Poly1305). Mozilla "intermediate" profile, T1.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Options every server-side context uses: TLS 1.2–1.3 only, the ciphers above (T1). */
export const SERVER_TLS_OPTIONS: tls.SecureContextOptions = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: TLS12_CIPHERS,
  honorCipherOrder: true,
};

/** Key and chain of one server certificate, in clear, with its built context. */
export interface ServerCredential {
  readonly certificate: Certificate;
  readonly cert: string;
  readonly key: string;
  readonly context: tls.SecureContext;
}

/**
 * What an https listener answers a ClientHello with (T1): exact names, `*.` wildcards (one
 * label, RFC 6125 §6.4.3) from the certificates' subjects, and the default (the frontend's
 * first certificate) for unknown names or no SNI. Built once per spec, read per handshake.
 */
export interface SniTable {
  readonly byName: ReadonlyMap<string, ServerCredential>;
  /** Key: the suffix after `*` including the dot (`.example.com`). */
  readonly bySuffix: ReadonlyMap<string, ServerCredential>;
  readonly fallback: ServerCredential;
}

/** Picks the credential for an SNI host name (any case, trailing dot allowed). */
export function selectCredential(table: SniTable, servername: string | undefined): ServerCredential {
  if (!servername) return table.fallback;
  let name = servername.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  const exact = table.byName.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  if (dot > 0) {
    const wild = table.bySuffix.get(name.slice(dot));
    if (wild !== undefined) return wild;
  }
  return table.fallback;
}

/**
 * Builds and caches secure contexts for server certificates (T1). Contexts are cached by
 * certificate id and fingerprint, so a snapshot that does not touch a certificate reuses
 * its context, and a replaced certificate (same id, new fingerprint) gets a new one — new
 * handshakes use it, open connections keep theirs. Private keys are decrypted with
 * `secretKey` only when a context is built.
 */
export class ServerContexts {
  readonly #secretKey: Buffer;
  /** TLS session ticket keys (48 bytes) shared by every worker thread; undefined = each context's own. */
  readonly ticketKeys: Buffer | undefined;
  #cache = new Map<string, ServerCredential>();

  /**
   * `ticketKeys` (48 bytes): every context encrypts session tickets with them, so a client
   * resumes its TLS session on whichever worker thread takes its next connection (issue 13
   * point 1).
   */
  constructor(secretKey: Buffer, ticketKeys?: Buffer) {
    this.#secretKey = secretKey;
    this.ticketKeys = ticketKeys;
  }

  /** The credential of one certificate; throws FulcrumError when the key cannot be decrypted. */
  credential(c: Certificate): ServerCredential {
    const k = `${c.id}\u0000${c.fingerprintSha256}`;
    let cred = this.#cache.get(k);
    if (cred === undefined) {
      const key = privateKeyOf(c, this.#secretKey);
      const context = tls.createSecureContext({
        ...SERVER_TLS_OPTIONS,
        cert: c.certPem,
        key,
        ...(this.ticketKeys ? { ticketKeys: this.ticketKeys } : {}),
      });
      cred = { certificate: c, cert: c.certPem, key, context };
      this.#cache.set(k, cred);
    }
    return cred;
  }

  /**
   * The SNI table of a frontend's certificates (first = default). Earlier certificates win a
   * name two of them claim. Throws when `certs` is empty (validation refuses that, T1).
   */
  table(certs: readonly Certificate[]): SniTable {
    if (certs.length === 0) throw new Error('an https frontend needs at least one certificate (T1)');
    const byName = new Map<string, ServerCredential>();
    const bySuffix = new Map<string, ServerCredential>();
    let fallback: ServerCredential | undefined;
    for (const c of certs) {
      const cred = this.credential(c);
      fallback ??= cred;
      for (const s of c.subjects) {
        if (s.startsWith('*.')) {
          const suffix = s.slice(1);
          if (!bySuffix.has(suffix)) bySuffix.set(suffix, cred);
        } else if (!byName.has(s)) byName.set(s, cred);
      }
    }
    return { byName, bySuffix, fallback: fallback as ServerCredential };
  }

  /** Forgets contexts of certificates not in `keep` (ids + fingerprints of the current snapshot). */
  prune(keep: Iterable<Certificate>): void {
    const live = new Set<string>();
    for (const c of keep) live.add(`${c.id}\u0000${c.fingerprintSha256}`);
    for (const k of this.#cache.keys()) if (!live.has(k)) this.#cache.delete(k);
  }
}
