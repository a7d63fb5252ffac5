import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { buildCertificate, type CertificateUpload, certificateView } from '../certificates/service.ts';
import type { Certificate } from '../config/model.ts';
import { newId } from '../config/resources.ts';
import { ErrorSchema, IdSchema, withVersion } from '../config/schemas.ts';
import { checkIfMatch } from '../control/control-plane.ts';
import { FulcrumError } from '../core/errors.ts';
import type { ApiContext } from './context.ts';
import { addEtagHook, ifMatchOf } from './etag.ts';

type Req = FastifyRequest<{ Params: { id: string }; Body: Record<string, unknown> }>;

const IdParams = Type.Object({ id: IdSchema });
const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  412: ErrorSchema,
};
const TAG = 'certificates';

/** The certificate as answered (no private key, ever). */
export const CertificateResource = Type.Object({
  id: Type.String(),
  version: Type.Optional(
    Type.Integer({ minimum: 1, description: 'the version, also the ETag: send it as If-Match to PUT or DELETE' }),
  ),
  name: Type.String(),
  kind: Type.Union([Type.Literal('server'), Type.Literal('ca')]),
  pem: Type.String({ description: 'certificate chain or CA bundle (public part only)' }),
  subjects: Type.Array(Type.String(), { description: 'CN and subjectAltNames (server), each CA CN (ca)' }),
  issuer: Type.String(),
  notBefore: Type.String({ format: 'date-time' }),
  notAfter: Type.String({ format: 'date-time' }),
  fingerprintSha256: Type.String(),
  warnings: Type.Array(Type.String()),
});

const CertificateCreate = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 100,
      description:
        'unique name, 1–100 characters, stored in Unicode NFC; no control, bidi or zero-width characters, no leading or trailing whitespace, no "/"',
    }),
    kind: Type.Union([Type.Literal('server'), Type.Literal('ca')]),
    pem: Type.String({
      minLength: 1,
      maxLength: 1024 * 1024,
      description: 'server: certificate chain + unencrypted RSA/ECDSA private key; ca: CA certificates',
    }),
  },
  { additionalProperties: false },
);
const CertificateReplace = Type.Object(
  { pem: Type.String({ minLength: 1, maxLength: 1024 * 1024 }) },
  { additionalProperties: false },
);

/**
 * `/certificates` routes (API.md, T1, T3): POST uploads a server certificate (chain + key)
 * or a CA bundle, checked with node:crypto; the private key is stored encrypted with
 * `secretKey` (AES-256-GCM) and never answered. GET lists / shows one, DELETE refuses with
 * 409 while a frontend, backend or server uses it. `PUT /certificates/{id}` `{ pem }`
 * (addition) replaces the PEM in place, same kind, for live rotation (new TLS handshakes use
 * it, open connections keep theirs). Use as `buildApi({ extraRoutes: [certificateRoutes(key)] })`.
 */
export function certificateRoutes(secretKey: Buffer): (app: FastifyInstance, ctx: ApiContext) => void {
  return (app, ctx) => {
    addEtagHook(app);
    const cp = ctx.control;
    const now = (): number => cp.plane.runtime.clock.now();
    app.get(
      '/certificates',
      {
        config: { role: 'viewer' },
        schema: {
          tags: [TAG],
          summary: 'List certificates',
          response: { 200: Type.Array(CertificateResource), ...errors },
        },
      },
      async () => cp.list('certificate').map((c) => certificateView(c, now())),
    );
    app.get(
      '/certificates/:id',
      {
        config: { role: 'viewer' },
        schema: {
          tags: [TAG],
          summary: 'One certificate',
          params: IdParams,
          response: { 200: CertificateResource, ...errors },
        },
      },
      async (req: Req) => certificateView(cp.get('certificate', req.params.id), now()),
    );
    app.post(
      '/certificates',
      {
        config: { role: 'admin' },
        schema: {
          tags: [TAG],
          summary: 'Upload a server certificate (chain + key) or a CA bundle (T1, T3)',
          body: CertificateCreate,
          response: { 201: withVersion(CertificateResource), ...errors },
        },
      },
      async (req: Req, reply) => {
        const { doc, warnings } = buildCertificate(
          req.body as unknown as CertificateUpload,
          newId('cert'),
          secretKey,
          now(),
        );
        const r = await cp.createCertificate(ctx.actor(req), doc);
        return reply
          .code(201)
          .send({ ...certificateView(r.resource, now(), warnings), configVersion: r.configVersion });
      },
    );
    app.put(
      '/certificates/:id',
      {
        config: { role: 'admin' },
        schema: {
          tags: [TAG],
          summary: 'Replace a certificate in place (rotation): same id and kind, new PEM',
          params: IdParams,
          body: CertificateReplace,
          response: { 200: withVersion(CertificateResource), ...errors },
        },
      },
      async (req: Req) => {
        const id = req.params.id;
        const cur = cp.get('certificate', id);
        const { doc, warnings } = buildCertificate(
          { name: cur.name, kind: cur.kind, pem: req.body.pem as string },
          id,
          secretKey,
          now(),
        );
        const ifMatch = ifMatchOf(req);
        const r = await cp.change(ctx.actor(req), 'update', (draft) => {
          const i = draft.certificates.findIndex((c) => c.id === id);
          if (i < 0) throw new FulcrumError('not_found', `id: no certificate with id "${id}"`, 'id');
          const before = draft.certificates[i] as Certificate;
          const expect = checkIfMatch('certificate', before, ifMatch);
          draft.certificates[i] = doc;
          return {
            ...(expect ? { expect } : {}),
            result: doc,
            kind: 'certificate',
            id,
            before: { ...before, keyEncrypted: undefined },
            after: { ...doc, keyEncrypted: undefined },
          };
        });
        return { ...certificateView(r.resource, now(), warnings), configVersion: r.configVersion };
      },
    );
    app.delete(
      '/certificates/:id',
      {
        config: { role: 'admin' },
        schema: {
          tags: [TAG],
          summary: 'Delete a certificate (409 while a frontend, backend or server uses it)',
          params: IdParams,
          response: { 200: withVersion(CertificateResource), ...errors },
        },
      },
      async (req: Req) => {
        const r = await cp.deleteCertificate(ctx.actor(req), req.params.id, ifMatchOf(req));
        return { ...certificateView(r.resource, now()), configVersion: r.configVersion };
      },
    );
  };
}
