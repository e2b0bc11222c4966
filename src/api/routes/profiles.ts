import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { auditStatement, recordAudit } from "../../access/index.ts";
import {
  type IngestReport,
  ingestEventRecords,
  ingestProfileRecords,
  lookupProfile,
  parseIdentity,
} from "../../profiles/index.ts";
import { loadSchema, recentSchema } from "../../schema/index.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";
import type { StreamingDeps } from "./streaming.ts";

export const MAX_BATCH_RECORDS = 10_000;

/** One record (an object) or a batch (an array of up to 10,000); each record is validated on its own. */
const recordsBody = z.union(
  [z.record(z.string(), z.unknown()), z.array(z.unknown()).min(1).max(MAX_BATCH_RECORDS)],
  {
    error: (issue) => {
      if (!Array.isArray(issue.input)) return "expected one record (a JSON object) or a batch (a JSON array)";
      if (issue.input.length === 0) return "a batch needs at least one record";
      return `a batch holds at most ${MAX_BATCH_RECORDS} records (got ${issue.input.length})`;
    },
  },
);

const issueSchema = z.object({
  row: z.number().optional(),
  field: z.string().optional(),
  message: z.string(),
});
const reportSchema = z.object({
  received: z.number(),
  stored: z.number(),
  rejected: z.number(),
  issues: z.array(issueSchema),
});

/** 200 when everything was stored, 207 when some records were rejected, 400 when none was stored. */
function reportStatus(report: IngestReport): number {
  if (report.rejected === 0) return 200;
  return report.stored > 0 ? 207 : 400;
}

export function profileRoutes(app: FastifyInstance, deps: ApiDeps & StreamingDeps) {
  for (const kind of ["profiles", "events"] as const) {
    registerRoute(app, deps, {
      method: "POST",
      url: `/v1/${kind}`,
      permission: "Manage Profiles",
      summary:
        kind === "profiles"
          ? "Upsert profiles by primary identity (absent fields keep their value, null clears)"
          : "Append events (type, timestamp, identity, properties)",
      tags: ["profiles"],
      body: recordsBody,
      response: reportSchema,
      responseDescription: "Every record was stored",
      otherSuccesses: { 207: "Some records were stored, the others are listed in `issues` by row" },
      handler: async ({ body, sandbox, actor, reply }) => {
        const schema = await recentSchema(deps.store, sandbox);
        const records = Array.isArray(body) ? body : [body];
        const audit = (report: { received: number; stored: number; rejected: number }) => ({
          actor: actor.id,
          action: "ingest",
          resource: kind,
          details: { received: report.received, stored: report.stored, rejected: report.rejected },
        });
        // Through the streaming path when it runs: committed in small groups, evaluated in real
        // time, the audit entry in the group's write (a commit of its own per request was ~117
        // more fsync'd commits a second at 10,000 events/s).
        const streaming = deps.streaming?.ingest;
        const report = streaming
          ? await (kind === "profiles" ? streaming.ingestProfiles : streaming.ingestEvents)(
              sandbox,
              schema,
              records,
              0,
              (r) => (r.stored > 0 ? auditStatement(audit(r)) : undefined),
            )
          : await (kind === "profiles" ? ingestProfileRecords : ingestEventRecords)(
              deps.store,
              schema,
              records,
            );
        if (!streaming && report.stored > 0) await recordAudit(deps.store, { sandbox, ...audit(report) });
        const { profileIds: _ids, ...visible } = report;
        reply.status(reportStatus(report)).send(visible);
      },
    });
  }

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/profiles",
    permission: "View Profiles",
    summary: "Look up a profile by any identity, with its most recent events",
    tags: ["profiles"],
    query: z.object({
      identity: z.string().describe("namespace:value, e.g. email:ann@example.com"),
      events: z.coerce.number().int().min(0).max(1000).default(50),
    }),
    handler: async ({ query, sandbox }) => {
      const schema = await loadSchema(deps.store, sandbox);
      return lookupProfile(deps.store, schema, parseIdentity(query.identity, schema), query.events);
    },
  });
}
