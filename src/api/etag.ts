import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IfMatch } from '../control/control-plane.ts';
import { invalid } from '../core/errors.ts';

/**
 * ETag and If-Match (issue 15 point 6, API.md second wave). A resource's ETag is its
 * `version` (`"3"`); `PATCH`, `PUT` and `DELETE` with `If-Match` go through only when the
 * resource is still at one of the versions named (else 412 `precondition_failed` naming the
 * current version, checked inside the change against the stored version).
 */

/** The ETag of a version: a strong entity tag, `"3"`. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * Sets `ETag` on every answer of this plugin that is one resource with a `version` (GET of one,
 * POST, PATCH, PUT, DELETE); lists carry each item's `version` in the body.
 */
export function addEtagHook(app: FastifyInstance): void {
  app.addHook('preSerialization', async (_req, reply, payload) => {
    if (payload !== null && typeof payload === 'object' && !Array.isArray(payload)) {
      const p = payload as { id?: unknown; version?: unknown };
      if (typeof p.id === 'string' && typeof p.version === 'number') reply.header('etag', etagOf(p.version));
    }
    return payload;
  });
}

const TAG = /^\s*(?:W\/)?"(\d{1,15})"\s*$|^\s*(\d{1,15})\s*$/;

/**
 * The versions an `If-Match` header names: `"3"`, `W/"3"`, a bare `3`, or a list of them;
 * `*` (or no header) checks nothing. Anything else is refused (400 naming the header).
 */
export function ifMatchOf(req: FastifyRequest): IfMatch {
  const raw = req.headers['if-match'];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  if (value.trim() === '*') return undefined;
  const versions: number[] = [];
  for (const part of value.split(',')) {
    const m = TAG.exec(part);
    if (!m) {
      throw invalid(
        'If-Match',
        'If-Match: must name versions as entity tags, e.g. "3" (the ETag of the resource), or *',
      );
    }
    versions.push(Number(m[1] ?? m[2]));
  }
  return versions;
}
