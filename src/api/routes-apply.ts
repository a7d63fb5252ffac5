import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ErrorSchema } from '../config/schemas.ts';
import { stepTitle } from '../declarative/format.ts';
import {
  checkDeclarative,
  type DeclarativeFile,
  DeclarativeFileError,
  MAX_DECLARATIVE_FILE_BYTES,
  parseDeclarative,
} from '../declarative/parse.ts';
import { applyPlanToState, NEW, type Plan, planApply } from '../declarative/plan.ts';
import { DeclarativeFileSchema } from '../declarative/schema.ts';
import type { ApiContext } from './context.ts';
import { errorHandler, validatorCompiler } from './errors.ts';

/**
 * `POST /api/v1/apply[?dryRun=true][&prune=true]` (issue 15 point 1, API.md second wave): a
 * whole declarative document (the file format of declarative/, as YAML or JSON) planned
 * against the current configuration and applied as ONE change of the pipeline (one
 * configVersion, one snapshot, one audit row `apply config/apply`), so a final state that is
 * valid is never refused at an intermediate step (two servers swapping ports, a frontend
 * moving to another port). Answers the plan; `dryRun` judges it by every rule of a change
 * (address guard included) and changes nothing. `fulcrum apply` uses it.
 */

/**
 * Body limit of a YAML document: 1 MiB, below the file limit (MAX_DECLARATIVE_FILE_BYTES,
 * 4 MiB), because the `yaml` package parses on the event loop at about 2 s per MiB and the
 * API must keep answering meanwhile. A JSON document is read with JSON.parse (tens of ms for
 * 4 MiB), so it may be as large as a file (`fulcrum apply` sends its file as JSON).
 */
export const APPLY_YAML_BODY_LIMIT_BYTES = 1024 * 1024;
export const APPLY_JSON_BODY_LIMIT_BYTES = MAX_DECLARATIVE_FILE_BYTES;

const YamlTypes = ['application/yaml', 'application/x-yaml', 'text/yaml'];

const StepSchema = Type.Object({
  op: Type.Union([Type.Literal('create'), Type.Literal('update'), Type.Literal('delete')]),
  kind: Type.String({ description: 'loadBalancer, instance, backend, server or frontend' }),
  name: Type.String({ description: 'path of names: `shop`, `shop/web`, `shop/web/web-1`' }),
  id: Type.String({ description: 'the resource id (`new:…` in a dry run for what it would create)' }),
  backendId: Type.Optional(Type.String()),
  changes: Type.Array(Type.Object({ field: Type.String(), before: Type.Unknown(), after: Type.Unknown() }), {
    description: 'create: the fields given; update: before → after',
  }),
  note: Type.Optional(Type.String()),
});

const ApplyAnswer = Type.Object({
  dryRun: Type.Boolean(),
  prune: Type.Boolean(),
  configVersion: Type.Integer({ description: 'the version now live (unchanged by a dry run or an empty plan)' }),
  summary: Type.Object({ create: Type.Integer(), update: Type.Integer(), delete: Type.Integer() }),
  steps: Type.Array(StepSchema),
  names: Type.Record(Type.String(), Type.String(), { description: 'id → name, to show references by name' }),
});

const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  409: ErrorSchema,
  413: ErrorSchema,
  415: ErrorSchema,
};

/** The document of a request: YAML through parseDeclarative (limits of issue 10), JSON through JSON.parse. */
function documentOf(req: FastifyRequest): DeclarativeFile {
  const text = typeof req.body === 'string' ? req.body : '';
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  if (!type.includes('json')) return parseDeclarative(text, 'body');
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw new DeclarativeFileError(`body: not valid JSON: ${(err as Error).message}`);
  }
  return checkDeclarative(value, 'body');
}

/** A plan as the API answers it: placeholders replaced by the ids made (when applied), names as an object. */
function answerOf(plan: Plan, ids: ReadonlyMap<string, string>, applied: boolean) {
  const real = (id: string) => (applied && id.startsWith(NEW) ? (ids.get(id) ?? id) : id);
  const names: Record<string, string> = {};
  for (const [id, name] of plan.names) {
    names[id] = name;
    if (applied && ids.has(id)) names[ids.get(id)!] = name;
  }
  const swap = (v: unknown): unknown => (typeof v === 'string' ? real(v) : v);
  const steps = plan.steps.map((s) => ({
    op: s.op,
    kind: s.kind,
    name: s.name,
    id: real(s.id),
    ...(s.backendId !== undefined ? { backendId: real(s.backendId) } : {}),
    changes: s.changes.map((c) => ({
      field: c.field,
      before: c.before,
      after: applied ? deepSwap(c.after, swap) : c.after,
    })),
    ...(s.note ? { note: s.note } : {}),
  }));
  const n = (op: string) => plan.steps.filter((s) => s.op === op).length;
  return { steps, names, summary: { create: n('create'), update: n('update'), delete: n('delete') } };
}

function deepSwap(v: unknown, f: (x: unknown) => unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => deepSwap(x, f));
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deepSwap(x, f)]));
  }
  return f(v);
}

/** `POST /apply` in its own plugin context: its own body parsers and limits. */
export function registerApplyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const cp = ctx.control;
  // Only YAML and JSON: any other type (text/plain included) is 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: APPLY_JSON_BODY_LIMIT_BYTES },
    (_req, body, done) => done(null, body),
  );
  app.addContentTypeParser(
    YamlTypes,
    { parseAs: 'string', bodyLimit: APPLY_YAML_BODY_LIMIT_BYTES },
    (_req, body, done) => done(null, body),
  );
  // A body above its limit is answered 413 naming the limit of its type; anything else as everywhere.
  const otherwise = errorHandler(ctx.log);
  app.setErrorHandler((error, req, reply) => {
    if ((error as { code?: string }).code !== 'FST_ERR_CTP_BODY_TOO_LARGE')
      return otherwise(error as Parameters<typeof otherwise>[0], req, reply);
    const yaml = !String(req.headers['content-type'] ?? '').includes('json');
    const message = yaml
      ? `body: a YAML document may hold at most 1 MiB (${APPLY_YAML_BODY_LIMIT_BYTES} bytes); send it as JSON (application/json) for up to 4 MiB, as fulcrum apply does`
      : `body: a JSON document may hold at most 4 MiB (${APPLY_JSON_BODY_LIMIT_BYTES} bytes), the declarative file limit`;
    return reply.code(413).send({ error: { code: 'invalid', message, field: 'body' } });
  });
  app.post(
    '/apply',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['configuration'],
        summary:
          'Apply a whole declarative document (YAML: application/yaml or text/yaml, at most 1 MiB; JSON: application/json, at most 4 MiB) as ONE change; answers the plan',
        consumes: ['application/json', ...YamlTypes],
        querystring: Type.Object({
          dryRun: Type.Optional(
            Type.Union([Type.Literal('true'), Type.Literal('false')], {
              description: 'true: answer the plan, judged by every rule, and change nothing',
            }),
          ),
          prune: Type.Optional(
            Type.Union([Type.Literal('true'), Type.Literal('false')], {
              description:
                "true: delete frontends, backends and servers under the document's load balancers that it does not name",
            }),
          ),
        }),
        body: DeclarativeFileSchema,
        response: { 200: ApplyAnswer, ...errors },
      },
      // The body is text (YAML or JSON) read by declarative/parse.ts, whose refusals name the path in the document.
      validatorCompiler: (route) =>
        route.httpPart === 'body' ? (value: unknown) => ({ value }) : validatorCompiler(route),
    },
    async (req: FastifyRequest<{ Querystring: { dryRun?: string; prune?: string } }>) => {
      const dryRun = req.query.dryRun === 'true';
      const prune = req.query.prune === 'true';
      const file = documentOf(req);
      const run = dryRun ? cp.preview.bind(cp) : cp.change.bind(cp);
      const r = await run(ctx.actor(req), 'apply', (draft) => {
        const plan = planApply(file, draft, { prune });
        const ids = applyPlanToState(draft, plan);
        return {
          result: { plan, ids },
          kind: 'config',
          id: 'apply',
          before: null,
          after: { prune, changes: plan.steps.map(stepTitle) },
        };
      });
      return { dryRun, prune, configVersion: r.configVersion, ...answerOf(r.resource.plan, r.resource.ids, !dryRun) };
    },
  );
}
