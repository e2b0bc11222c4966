import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import { HeraldError } from "../../errors/index.ts";
import { loadSchema } from "../../schema/index.ts";
import type { StreamingService } from "../../streaming/index.ts";
import type { ApiDeps } from "../deps.ts";
import { ingestNdjson } from "../ndjson-ingest.ts";
import { registerRoute } from "../route.ts";

export type StreamingDeps = ApiDeps & { streaming?: StreamingService };

const NDJSON = "application/x-ndjson";
const streamReportSchema = z.object({
  received: z.number(),
  stored: z.number(),
  rejected: z.number(),
  issues: z.array(
    z.object({ row: z.number().optional(), field: z.string().optional(), message: z.string() }),
  ),
  issuesTruncated: z.boolean(),
});

function requireStreaming(deps: StreamingDeps): StreamingService {
  if (!deps.streaming)
    throw new HeraldError("unavailable", "streaming_unavailable", "Streaming is not running");
  return deps.streaming;
}

export function streamingRoutes(app: FastifyInstance, deps: StreamingDeps) {
  // Encapsulated: the NDJSON body parser (a pass-through stream) applies to these routes only.
  app.register(async (scope) => {
    scope.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));
    for (const kind of ["profiles", "events"] as const) {
      registerRoute(scope, deps, {
        method: "POST",
        url: `/v1/${kind}/stream`,
        permission: "Manage Profiles",
        summary: `Stream ${kind} as newline-delimited JSON (${NDJSON}), one record per line, committed in small groups and evaluated in real time`,
        tags: ["profiles", "streaming"],
        consumes: [NDJSON],
        streamedBody: `One JSON ${kind === "profiles" ? "profile" : "event"} per line (${NDJSON}); blank lines are skipped but counted, so a rejected record's \`row\` is its line number`,
        response: streamReportSchema,
        responseDescription: "Every record was stored",
        otherSuccesses: { 207: "Some records were stored, the others are listed in `issues` by line" },
        handler: async ({ request, sandbox, actor, reply }) => {
          const streaming = requireStreaming(deps);
          if (!request.headers["content-type"]?.startsWith(NDJSON)) {
            throw new HeraldError(
              "unsupported_media_type",
              "unsupported_media_type",
              `Send the body as ${NDJSON}`,
            );
          }
          const schema = await loadSchema(deps.store, sandbox);
          // The placeholders of rejected lines (counted and reported already) are skipped here.
          const maxLineBytes = deps.config.maxBodyBytes;
          const report = await ingestNdjson(request.body as Readable, {
            maxLineBytes,
            logFault: (err, reference) => request.log.error({ err, reference }, "stream ingestion failed"),
            ingest: async (records, firstRow) => {
              const parsed = records
                .map((r, i) => ({ r, row: firstRow + i }))
                .filter((x) => x.r !== undefined);
              if (!parsed.length) return { received: 0, stored: 0, rejected: 0, issues: [], profileIds: [] };
              const ingest =
                kind === "profiles" ? streaming.ingest.ingestProfiles : streaming.ingest.ingestEvents;
              const result = await ingest(
                sandbox,
                schema,
                parsed.map((x) => x.r),
              );
              // Renumber from the chunk's position among parsed records to the stream's rows.
              const rows = parsed.map((x) => x.row);
              return {
                ...result,
                issues: result.issues.map((i) => ({ ...i, row: rows[i.row ?? 0] ?? i.row })),
              };
            },
          });
          const { interruption, ...counts } = report;
          if (counts.stored > 0) {
            const entry = {
              sandbox,
              actor: actor.id,
              action: "ingest",
              resource: kind,
              details: {
                received: counts.received,
                stored: counts.stored,
                rejected: counts.rejected,
                stream: true,
              },
            };
            if (!interruption) await recordAudit(deps.store, entry);
            else {
              // The store may be what failed: the entry is then logged instead, and the answer stays.
              await recordAudit(deps.store, {
                ...entry,
                details: { ...entry.details, interrupted: true },
              }).catch((err: unknown) =>
                request.log.error({ err, audit: entry }, "audit entry of an interrupted stream not recorded"),
              );
            }
          }
          if (interruption) throw interruption;
          const status = counts.rejected === 0 ? 200 : counts.stored > 0 ? 207 : 400;
          reply.status(status).send(counts);
        },
      });
    }
  });

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/streaming/metrics",
    permission: "View Destinations",
    sandboxed: false,
    summary:
      "Streaming figures since start: ingested, evaluations, membership changes, delivered, retried, dead-lettered, latency histogram",
    tags: ["streaming"],
    handler: async () => requireStreaming(deps).metricsJson(),
  });

  registerRoute(app, deps, {
    method: "GET",
    url: "/metrics",
    // The same figures as /v1/streaming/metrics, so the same permission (a scraper gets a role).
    permission: "View Destinations",
    sandboxed: false,
    summary: "Streaming metrics in the Prometheus text format",
    tags: ["streaming"],
    textResponse: "text/plain",
    responseDescription: "The metrics in the Prometheus text exposition format",
    handler: async ({ reply }) => {
      const streaming = requireStreaming(deps);
      reply.type(streaming.metricsContentType).send(await streaming.metricsText());
    },
  });
}
