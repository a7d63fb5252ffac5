/**
 * The request target (RFC 9112 §3.2) for HTTP/1.1 and HTTP/2 alike: its form, the host of an
 * absolute-form target, and the normalised path the proxy routes on and forwards (RFC 3986 §6.2.2:
 * percent-decoding of unreserved characters, upper-case hex in the escapes left, dot segments
 * removed §5.2.4; beyond: duplicate slashes merged unless the frontend sets `mergeSlashes: false`).
 * A fragment (`#`) is refused: clients never send one (RFC 9110 §4.2.4 strips it).
 *
 * Hot path: a target without `%`, `/.` and `//` is returned as it is (no allocation).
 */

/** The outcome of `parseTarget`; reused by its caller. */
export interface TargetOut {
  /** 0 when accepted, else the status to answer (400 bad target, 501 CONNECT). */
  status: number;
  /** The target to forward (origin-form, normalised path + query as received), or `*`. */
  target: string;
  /** The normalised path, without the query: what routing rules see. */
  path: string;
  /** The authority of an absolute-form target (`http://host:port/…`), else null. */
  authority: string | null;
  /** Why the target was refused (for logs). */
  reason: string;
}

/** A new, reusable TargetOut. */
export function targetOut(): TargetOut {
  return { status: 0, target: '', path: '', authority: null, reason: '' };
}

const HEXV = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEXV[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEXV[65 + i] = 10 + i;
  HEXV[97 + i] = 10 + i;
}
/** RFC 3986 §2.3 unreserved: ALPHA DIGIT - . _ ~ */
const UNRESERVED = new Uint8Array(256);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;
const HEX_UPPER = '0123456789ABCDEF';

function refuse(out: TargetOut, status: number, reason: string): TargetOut {
  out.status = status;
  out.reason = reason;
  return out;
}

/**
 * Parses `target` of a `method` request into `out` (RFC 9112 §3.2): origin-form `/path?query`,
 * absolute-form `http(s)://authority/path?query` (authority returned, userinfo refused),
 * asterisk-form `*` for OPTIONS; authority-form (CONNECT) answers 501. The path is normalised
 * (see the module comment); `mergeSlashes` merges `//`. Refuses (400) fragments, bad escapes
 * (`%zz`, `%` at the end) and paths that escape the root after dot-segment removal is impossible
 * (they are clamped at `/` per RFC 3986 §5.2.4, not refused).
 */
export function parseTarget(method: string, target: string, mergeSlashes: boolean, out: TargetOut): TargetOut {
  out.status = 0;
  out.authority = null;
  out.reason = '';
  if (method === 'CONNECT') return refuse(out, 501, 'CONNECT is not supported');
  let rest = target;
  const c0 = target.charCodeAt(0);
  if (c0 !== 47 /* / */) {
    if (target === '*') {
      if (method !== 'OPTIONS') return refuse(out, 400, 'asterisk-form is for OPTIONS only');
      out.target = '*';
      out.path = '*';
      return out;
    }
    const lower = target.slice(0, 8).toLowerCase();
    const skip = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : 0;
    if (skip === 0) return refuse(out, 400, 'request target is not origin-form or absolute-form');
    let end = skip;
    while (end < target.length) {
      const c = target.charCodeAt(end);
      if (c === 47 || c === 63 || c === 35) break;
      end++;
    }
    const authority = target.slice(skip, end);
    if (authority === '' || authority.includes('@')) return refuse(out, 400, 'bad authority in absolute-form target');
    out.authority = authority;
    rest = end === target.length ? '/' : target.charCodeAt(end) === 47 ? target.slice(end) : `/${target.slice(end)}`;
  }
  if (rest.indexOf('#') >= 0) return refuse(out, 400, 'fragment in request target');
  const q = rest.indexOf('?');
  const rawPath = q >= 0 ? rest.slice(0, q) : rest;
  const path = normalisePath(rawPath, mergeSlashes);
  if (path === null) return refuse(out, 400, 'bad percent-encoding in request path');
  out.path = path;
  out.target = path === rawPath ? rest : q >= 0 ? path + rest.slice(q) : path;
  return out;
}

/** True when the path needs work: an escape, a dot segment candidate or (when merging) `//`. */
function needsWork(p: string, mergeSlashes: boolean): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 37) return true;
    if (c === 47 && i + 1 < p.length) {
      const n = p.charCodeAt(i + 1);
      if (n === 46 || (mergeSlashes && n === 47)) return true;
    }
  }
  return false;
}

/**
 * RFC 3986 §6.2.2 normalisation of an absolute path (starting with `/`): decodes escapes of
 * unreserved characters, upper-cases the hex of the others, removes dot segments (§5.2.4),
 * merges runs of `/` when `mergeSlashes`. Answers null for a bad escape.
 */
export function normalisePath(p: string, mergeSlashes: boolean): string | null {
  if (!needsWork(p, mergeSlashes)) return p;
  // 1. escapes
  let s = p;
  if (p.indexOf('%') >= 0) {
    let o = '';
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i);
      if (c !== 37) {
        o += p[i];
        continue;
      }
      if (i + 2 >= p.length) return null;
      const h = HEXV[p.charCodeAt(i + 1)] as number;
      const l = HEXV[p.charCodeAt(i + 2)] as number;
      if (h < 0 || l < 0) return null;
      const v = h * 16 + l;
      if (UNRESERVED[v] === 1) o += String.fromCharCode(v);
      else o += `%${HEX_UPPER[h]}${HEX_UPPER[l]}`;
      i += 2;
    }
    s = o;
  }
  // 2. segments: merge slashes, remove "." and ".."
  const segs = s.split('/');
  const outSegs: string[] = [];
  const last = segs.length - 1;
  let trailing = false;
  for (let i = 1; i <= last; i++) {
    const seg = segs[i] as string;
    if (seg === '.' || seg === '..') {
      if (seg === '..') outSegs.pop();
      if (i === last) trailing = true;
      continue;
    }
    if (seg === '' && mergeSlashes && i !== last) continue;
    outSegs.push(seg);
  }
  let r = `/${outSegs.join('/')}`;
  if (trailing && !r.endsWith('/')) r += '/';
  return r;
}
