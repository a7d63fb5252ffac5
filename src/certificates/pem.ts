import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { invalid } from '../core/errors.ts';

/** Kinds of uploaded certificate (API.md `/certificates`). */
export type CertificateKind = 'server' | 'ca';

/** What an upload yields once parsed and checked; `keyPem` is the clear private key (server only). */
export interface ParsedCertificate {
  kind: CertificateKind;
  /** Certificate chain (server: leaf first) or CA bundle, normalised PEM. */
  certPem: string;
  /** PKCS#8 PEM of the private key (server), null for a CA bundle. */
  keyPem: string | null;
  /** Leaf CN and DNS/IP SANs lower-cased (server), or each CA's CN (ca), without duplicates. */
  subjects: string[];
  /** Issuer of the leaf (or the first CA) as `CN=…, O=…`. */
  issuer: string;
  /** ISO 8601. */
  notBefore: string;
  /** ISO 8601 (the earliest expiry of a bundle). */
  notAfter: string;
  /** SHA-256 fingerprint of the leaf (or the first CA), `AB:CD:…`. */
  fingerprintSha256: string;
  /** Accepted but worth saying: expired, not yet valid, a non-CA certificate in a bundle, … */
  warnings: string[];
}

interface PemBlock {
  label: string;
  text: string;
  headers: string;
}

/** Largest PEM upload accepted (bytes). */
export const MAX_PEM_BYTES = 1024 * 1024;

/**
 * Splits PEM text into its blocks (RFC 7468). Throws `invalid('pem')` for text with no
 * block, a BEGIN without its END (truncated upload) or mismatched labels.
 */
export function splitPem(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const begin = /-----BEGIN ([A-Z0-9 ]+)-----/g;
  let m: RegExpExecArray | null = begin.exec(pem);
  while (m !== null) {
    const label = m[1] as string;
    const endMark = `-----END ${label}-----`;
    const endAt = pem.indexOf(endMark, m.index);
    const nextBegin = pem.indexOf('-----BEGIN ', m.index + m[0].length);
    if (endAt < 0 || (nextBegin >= 0 && nextBegin < endAt)) {
      throw invalid('pem', `pem: truncated PEM: "-----BEGIN ${label}-----" has no matching END line`);
    }
    const inner = pem.slice(m.index + m[0].length, endAt);
    const colon = inner.indexOf(':');
    blocks.push({
      label,
      text: `${pem.slice(m.index, endAt + endMark.length)}\n`,
      headers: colon >= 0 && inner.slice(0, colon).trim().indexOf('\n') < 0 ? inner : '',
    });
    begin.lastIndex = endAt + endMark.length;
    m = begin.exec(pem);
  }
  if (blocks.length === 0) throw invalid('pem', 'pem: no PEM block found (expected "-----BEGIN CERTIFICATE-----")');
  return blocks;
}

/** `CN=a, O=b` from Node's multi-line distinguished name. */
export function formatDn(dn: string): string {
  return dn
    .split('\n')
    .filter((x) => x.length > 0)
    .reverse()
    .join(', ');
}

/** The CN of a distinguished name, or ''. */
export function commonName(dn: string): string {
  for (const line of dn.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return '';
}

/** DNS names and IP addresses of a certificate's subjectAltName, lower-cased. */
export function altNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  const out: string[] = [];
  for (const part of san.split(', ')) {
    if (part.startsWith('DNS:')) out.push(part.slice(4).toLowerCase());
    else if (part.startsWith('IP Address:')) out.push(part.slice(11).toLowerCase());
  }
  return out;
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']);
/** Block labels that may sit in an upload and are ignored. */
const IGNORED_LABELS = new Set(['EC PARAMETERS', 'TRUSTED CERTIFICATE']);

function parseCert(b: PemBlock, i: number): X509Certificate {
  try {
    return new X509Certificate(b.text);
  } catch (err) {
    throw invalid('pem', `pem: certificate #${i + 1} cannot be parsed (${(err as Error).message})`);
  }
}

/**
 * Parses and checks an upload of `POST /certificates` (T1, T3) with node:crypto:
 * - `server`: a certificate chain and exactly one unencrypted RSA or ECDSA private key in PEM;
 *   the key must match one certificate of the chain (it is put first as the leaf).
 * - `ca`: one or more CA certificates (a bundle); a private key is refused.
 * Garbage, truncated PEM, unparsable certificates, encrypted keys, a key that matches no
 * certificate → FulcrumError `invalid` (400) naming `pem`. Expired or not-yet-valid
 * certificates are accepted with a warning. `now` is ms epoch.
 */
export function parseCertificateUpload(kind: CertificateKind, pem: string, now: number): ParsedCertificate {
  if (typeof pem !== 'string' || pem.trim().length === 0) throw invalid('pem', 'pem: required, PEM text');
  if (pem.length > MAX_PEM_BYTES) throw invalid('pem', `pem: larger than ${MAX_PEM_BYTES} bytes`);
  const blocks = splitPem(pem);
  const certBlocks: PemBlock[] = [];
  const keyBlocks: PemBlock[] = [];
  for (const b of blocks) {
    if (b.label === 'CERTIFICATE') certBlocks.push(b);
    else if (KEY_LABELS.has(b.label)) keyBlocks.push(b);
    else if (!IGNORED_LABELS.has(b.label))
      throw invalid(
        'pem',
        `pem: unexpected PEM block "${b.label}" (expected CERTIFICATE and, for a server, PRIVATE KEY)`,
      );
  }
  if (certBlocks.length === 0) throw invalid('pem', 'pem: no "-----BEGIN CERTIFICATE-----" block found');
  const certs = certBlocks.map(parseCert);
  const warnings: string[] = [];
  let keyPem: string | null = null;
  if (kind === 'ca') {
    if (keyBlocks.length > 0)
      throw invalid('pem', 'pem: a ca bundle must not contain a private key; upload CA certificates only');
    certs.forEach((c, i) => {
      if (!c.ca) warnings.push(`certificate #${i + 1} (${formatDn(c.subject)}) is not a CA certificate`);
    });
  } else {
    if (keyBlocks.length === 0)
      throw invalid(
        'pem',
        'pem: a server certificate needs its private key ("-----BEGIN PRIVATE KEY-----") after the chain',
      );
    if (keyBlocks.length > 1) throw invalid('pem', `pem: ${keyBlocks.length} private keys found; give exactly one`);
    const kb = keyBlocks[0] as PemBlock;
    if (kb.label === 'ENCRYPTED PRIVATE KEY' || kb.headers.includes('ENCRYPTED'))
      throw invalid(
        'pem',
        'pem: the private key is encrypted with a passphrase; upload it unencrypted (it is stored encrypted)',
      );
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: kb.text, format: 'pem' });
    } catch (err) {
      throw invalid('pem', `pem: the private key cannot be parsed (${(err as Error).message})`);
    }
    const type = key.asymmetricKeyType;
    if (type !== 'rsa' && type !== 'ec' && type !== 'rsa-pss')
      throw invalid('pem', `pem: private key type ${String(type)} is not supported; use RSA or ECDSA`);
    const leafAt = certs.findIndex((c) => c.checkPrivateKey(key));
    if (leafAt < 0)
      throw invalid(
        'pem',
        `pem: the private key does not match the certificate (${formatDn((certs[0] as X509Certificate).subject)})`,
      );
    if (leafAt > 0) {
      certs.unshift(...certs.splice(leafAt, 1));
      certBlocks.unshift(...certBlocks.splice(leafAt, 1));
    }
    keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  }
  const first = certs[0] as X509Certificate;
  const subjects: string[] = [];
  const add = (s: string): void => {
    const v = kind === 'server' ? s.toLowerCase() : s;
    if (v.length > 0 && !subjects.includes(v)) subjects.push(v);
  };
  if (kind === 'server') {
    add(commonName(first.subject));
    for (const n of altNames(first)) add(n);
  } else for (const c of certs) add(commonName(c.subject) || formatDn(c.subject));
  let notBefore = first.validFromDate.getTime();
  let notAfter = first.validToDate.getTime();
  if (kind === 'ca') {
    for (const c of certs) {
      notBefore = Math.max(notBefore, c.validFromDate.getTime());
      notAfter = Math.min(notAfter, c.validToDate.getTime());
    }
  }
  certs.forEach((c, i) => {
    const name = kind === 'server' && i === 0 ? 'the certificate' : `certificate #${i + 1} (${formatDn(c.subject)})`;
    if (c.validToDate.getTime() < now) warnings.push(`${name} expired on ${c.validToDate.toISOString()}`);
    if (c.validFromDate.getTime() > now) warnings.push(`${name} is not valid before ${c.validFromDate.toISOString()}`);
  });
  return {
    kind,
    certPem: certBlocks.map((b) => b.text).join(''),
    keyPem,
    subjects,
    issuer: formatDn(first.issuer),
    notBefore: new Date(notBefore).toISOString(),
    notAfter: new Date(notAfter).toISOString(),
    fingerprintSha256: first.fingerprint256,
    warnings,
  };
}
