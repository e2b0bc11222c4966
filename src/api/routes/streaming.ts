import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import { HeraldError, type Issue } from "../../errors/index.ts";
import type { IngestReport } from "../../profiles/index.ts";
import { loadSchema } from "../../schema/index.ts";
import type { StreamingService } from "../../streaming/index.ts";
import type { ApiDeps } from "../deps.ts";
import { ndjsonLines } from "../ndjson-lines.ts";
import { registerRoute } from "../route.ts";

export type StreamingDeps = ApiDeps & { streaming?: StreamingService };

const NDJSON = "application/x-ndjson";
/** Records per queued chunk of a stream, and chunks in flight: enough to fill a commit, bounded memory. */
const CHUNK_RECORDS = 1_000;
const CHUNKS_IN_FLIGHT = 4;
const MAX_ISSUES = 1_000;

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

/**
 * Reads newline-delimited JSON and ingests it in chunks through the streaming path, with a bounded
 * number of chunks in flight (back-pressure on the request body). Row numbers are 0-based line
 * numbers among the non-empty lines. A line over `maxLineBytes` (a record no larger than a request
 * body may be) is rejected by its row without being held in memory.
 */
async function ingestStream(
  body: Readable,
  maxLineBytes: number,
  ingest: (records: unknown[], firstRow: number) => Promise<IngestReport>,
) {
  const totals = { received: 0, stored: 0, rejected: 0 };
  const issues: Issue[] = [];
  let truncated = false;
  const addIssues = (more: Issue[]) => {
    for (const issue of more) {
      if (issues.length < MAX_ISSUES) issues.push(issue);
      else truncated = true;
    }
  };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const submit = (records: unknown[], firstRow: number) => {
    const done: Promise<void> = ingest(records, firstRow)
      .then((report) => {
        totals.stored += report.stored;
        totals.rejected += report.rejected;
        addIssues(report.issues);
      })
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  };
  let chunk: unknown[] = [];
  let chunkStart = 0;
  let row = 0;
  for await (const line of ndjsonLines(body, maxLineBytes)) {
    if ("text" in line && !line.text.trim()) continue;
    totals.received++;
    // A bad line is rejected on its own; the chunk keeps a placeholder, skipped when ingesting.
    const reject = (message: string) => {
      chunk.push(undefined);
      totals.rejected++;
      addIssues([{ row, message }]);
    };
    if ("tooLongBytes" in line) {
      reject(
        `line is ${line.tooLongBytes} bytes, over the ${maxLineBytes} a record may take (HERALD_MAX_BODY_BYTES)`,
      );
    } else {
      try {
        chunk.push(JSON.parse(line.text));
      } catch (error) {
        reject(`line is not valid JSON: ${(error as Error).message}`);
      }
    }
    row++;
    if (chunk.length >= CHUNK_RECORDS) {
      submit(chunk, chunkStart);
      chunk = [];
      chunkStart = row;
      while (inFlight.size >= CHUNKS_IN_FLIGHT) await Promise.race(inFlight);
    }
  }
  if (chunk.length) submit(chunk, chunkStart);
  await Promise.all(inFlight);
  if (failure) throw failure;
  issues.sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
  return { ...totals, issues, issuesTruncated: truncated };
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
        response: streamReportSchema,
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
          const report = await ingestStream(
            request.body as Readable,
            maxLineBytes,
            async (records, firstRow) => {
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
          );
          if (report.stored > 0) {
            await recordAudit(deps.store, {
              sandbox,
              actor: actor.id,
              action: "ingest",
              resource: kind,
              details: {
                received: report.received,
                stored: report.stored,
                rejected: report.rejected,
                stream: true,
              },
            });
          }
          const status = report.rejected === 0 ? 200 : report.stored > 0 ? 207 : 400;
          reply.status(status).send(report);
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
    handler: async ({ reply }) => {
      const streaming = requireStreaming(deps);
      reply.type(streaming.metricsContentType).send(await streaming.metricsText());
    },
  });
}
