import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import { updateSegmentGoverned } from "../../governance/index.ts";
import { loadSchema } from "../../schema/index.ts";
import {
  createSegment,
  deleteSegment,
  estimateSegment,
  evaluateAndNotify,
  getStoredSegment,
  listMembers,
  listStoredSegments,
  parseDefinition,
  segmentAstSchema,
  segmentHistory,
  segmentInputSchema,
  segmentPatchSchema,
  segmentsToEvaluate,
} from "../../segments/index.ts";
import type { ApiDeps } from "../deps.ts";
import {
  savedSegmentResponse,
  segmentEstimateResponse,
  segmentListResponse,
  storedSegmentResponse,
} from "../responses.ts";
import { registerRoute } from "../route.ts";

const idParams = z.object({ id: z.string().min(1) });

// Strict: a key the API does not know (a misspelt `at`) is refused by name, never ignored.
const draftSchema = z
  .strictObject({
    definition: z.string().min(1).max(100_000).optional().describe("The draft in the text language"),
    ast: segmentAstSchema.optional().describe("The draft as its JSON AST"),
    at: z.iso
      .datetime({ offset: true })
      .optional()
      .describe(
        "Estimate as of this ISO 8601 time with its offset (windows such as 'within last 30 days' end there); now by default",
      ),
  })
  .refine((s) => (s.definition === undefined) !== (s.ast === undefined), {
    message: "give exactly one of definition (text) or ast",
    path: ["definition"],
  });

export function segmentRoutes(app: FastifyInstance, deps: ApiDeps) {
  const audit = (sandbox: string, actor: string, action: string, id: string, details = {}) =>
    recordAudit(deps.store, { sandbox, actor, action, resource: "segment", resourceId: id, details });
  /** Evaluation writes memberships, then starts the exports scheduled "after evaluation". */
  const evaluate = (sandbox: string, ids: string[]) =>
    evaluateAndNotify(deps.store, sandbox, ids, {
      keys: deps.keys,
      onEvaluated: (id) => deps.activation?.onSegmentEvaluated(sandbox, id),
      onError: (error, segmentId) =>
        deps.logger.warn({ err: error, sandbox, segmentId }, "export after evaluation did not start"),
    });

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/segments",
    permission: "View Segments",
    summary:
      "Segments with their definitions, streaming eligibility and last evaluation; one whose stored definition cannot be evaluated has `invalid` (the problem) instead of `ast`",
    tags: ["segments"],
    response: segmentListResponse,
    handler: async ({ sandbox }) => ({ items: await listStoredSegments(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/segments",
    permission: "Manage Segments",
    summary:
      "Create a segment from its text definition or its AST (validated against the schema); `warnings` names event types it reads that the sandbox has never stored",
    tags: ["segments"],
    body: segmentInputSchema.strict(),
    status: 201,
    response: savedSegmentResponse,
    errors: [409],
    handler: async ({ body, sandbox, actor }) => {
      const segment = await createSegment(deps.store, sandbox, body);
      await audit(sandbox, actor.id, "create", segment.id, { name: segment.name });
      return segment;
    },
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/segments/estimate",
    permission: "View Segments",
    summary:
      "Estimate a draft segment's audience size (sampled above 200,000 profiles, with a 95% interval), with `warnings` as on save",
    tags: ["segments"],
    body: draftSchema,
    response: segmentEstimateResponse,
    handler: async ({ body, sandbox }) => {
      const schema = await loadSchema(deps.store, sandbox);
      const ast = body.ast ?? parseDefinition(body.definition ?? "", schema);
      return estimateSegment(deps.store, sandbox, schema, ast, body.at ? { now: new Date(body.at) } : {});
    },
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/segments/evaluate",
    permission: "Manage Segments",
    summary:
      "Evaluate every segment of the sandbox now (one shared pass); those whose stored definition is invalid are skipped and listed",
    tags: ["segments"],
    handler: async ({ sandbox, actor }) => {
      const { ids, invalid } = await segmentsToEvaluate(deps.store, sandbox);
      const skipped = invalid.map((s) => ({ segmentId: s.id, invalid: s.invalid }));
      for (const s of skipped)
        deps.logger.warn({ sandbox, ...s }, "segment skipped: its definition is invalid");
      const items = await evaluate(sandbox, ids);
      await audit(sandbox, actor.id, "evaluate", "*", { segments: ids.length });
      return { items, skipped };
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/segments/:id",
    permission: "View Segments",
    summary: "One segment",
    tags: ["segments"],
    params: idParams,
    response: storedSegmentResponse,
    handler: async ({ params, sandbox }) => getStoredSegment(deps.store, sandbox, params.id),
  });
  registerRoute(app, deps, {
    method: "PATCH",
    url: "/v1/segments/:id",
    permission: "Manage Segments",
    summary:
      "Change a segment's name, description or definition (validated on save), with `warnings` as on create; a new rule that would make an active dataflow violate a data-usage policy is refused (409 policy_violation)",
    tags: ["segments"],
    params: idParams,
    body: segmentPatchSchema.strict(),
    errors: [409],
    response: savedSegmentResponse,
    handler: async ({ params, body, sandbox, actor }) => {
      const segment = await updateSegmentGoverned(deps.store, sandbox, params.id, body, deps.activeDataflows);
      await audit(sandbox, actor.id, "update", segment.id, { name: segment.name });
      return segment;
    },
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/segments/:id",
    permission: "Manage Segments",
    summary: "Delete a segment (refused while another segment references it or a dataflow exports it)",
    tags: ["segments"],
    params: idParams,
    status: 204,
    errors: [409],
    handler: async ({ params, sandbox, actor, reply }) => {
      await deleteSegment(
        deps.store,
        sandbox,
        params.id,
        (id) => deps.segmentUsers?.(sandbox, id) ?? Promise.resolve([]),
      );
      await audit(sandbox, actor.id, "delete", params.id);
      reply.status(204).send();
    },
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/segments/:id/evaluate",
    permission: "Manage Segments",
    summary: "Evaluate a segment now: writes realized / existing / exited memberships and returns the counts",
    tags: ["segments"],
    errors: [409],
    params: idParams,
    handler: async ({ params, sandbox, actor }) => {
      const [evaluation] = await evaluate(sandbox, [params.id]);
      await audit(sandbox, actor.id, "evaluate", params.id, { ...evaluation });
      return evaluation;
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/segments/:id/members",
    // Member ids are profile ids, the primary identity's values (an email in the default schema).
    permission: ["View Segments", "View Profiles"],
    summary: "A page of the segment's members (realized and existing by default), with the total",
    tags: ["segments"],
    params: idParams,
    query: z.object({
      limit: z.coerce.number().int().min(1).max(10_000).default(100),
      offset: z.coerce.number().int().min(0).default(0),
      status: z
        .string()
        .optional()
        .describe("Comma-separated statuses: realized, existing, exited")
        .transform((s) => (s ? s.split(",").map((v) => v.trim()) : undefined))
        .pipe(z.array(z.enum(["realized", "existing", "exited"])).optional()),
    }),
    handler: async ({ params, query, sandbox }) => {
      await getStoredSegment(deps.store, sandbox, params.id);
      return listMembers(deps.store, sandbox, params.id, {
        limit: query.limit,
        offset: query.offset,
        ...(query.status ? { statuses: query.status } : {}),
      });
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/segments/:id/history",
    permission: "View Segments",
    summary: "The segment's evaluations, newest first: size, realized, existing, exited",
    tags: ["segments"],
    params: idParams,
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
    handler: async ({ params, query, sandbox }) => {
      await getStoredSegment(deps.store, sandbox, params.id);
      return { items: await segmentHistory(deps.store, sandbox, params.id, query.limit) };
    },
  });
}
