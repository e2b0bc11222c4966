import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import { discardDeadLetters, listDeadLetters, replayDeadLetters } from "../../streaming/index.ts";
import type { ApiDeps } from "../deps.ts";
import { deadLetterListResponse } from "../responses.ts";
import { registerRoute } from "../route.ts";
import type { StreamingDeps } from "./streaming.ts";

const selectionSchema = z
  .object({
    ids: z.array(z.number().int().min(1)).min(1).max(10_000).optional(),
    dataflowId: z.string().min(1).optional(),
    all: z.boolean().optional(),
  })
  .refine((s) => s.ids !== undefined || s.dataflowId !== undefined || s.all === true, {
    message: "give ids, a dataflowId, or all: true",
    path: ["ids"],
  });

/** Messages that ran out of attempts: list them, send them again, or drop them. */
export function deadLetterRoutes(app: FastifyInstance, deps: ApiDeps & StreamingDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/deadletters",
    // Their payloads hold profile data.
    permission: ["View Destinations", "View Profiles"],
    summary: "Dead letters: streaming messages that ran out of attempts, oldest first, with the last error",
    tags: ["streaming"],
    query: z.object({
      dataflowId: z.string().min(1).optional(),
      limit: z.coerce.number().int().min(1).max(10_000).default(100),
      offset: z.coerce.number().int().min(0).default(0),
    }),
    response: deadLetterListResponse,
    handler: async ({ query, sandbox }) => listDeadLetters(deps.store, sandbox, query),
  });

  for (const action of ["replay", "discard"] as const) {
    registerRoute(app, deps, {
      method: "POST",
      url: `/v1/deadletters/${action}`,
      permission: "Activate Destinations",
      summary:
        action === "replay"
          ? "Send dead letters again (fresh attempts, at the next dispatch)"
          : "Delete dead letters for good",
      tags: ["streaming"],
      body: selectionSchema,
      response: z.object({
        count: z.number().describe("dead letters replayed or discarded"),
        notTaken: z
          .array(z.number())
          .describe(
            "ids asked for that are not dead letters of this sandbox (unknown, discarded, already replayed), or, for a replay, whose dataflow was deleted",
          ),
      }),
      handler: async ({ body, sandbox, actor }) => {
        const result =
          action === "replay"
            ? await replayDeadLetters(deps.store, sandbox, body)
            : await discardDeadLetters(deps.store, sandbox, body);
        if (action === "replay") deps.streaming?.dispatcher.wake();
        await recordAudit(deps.store, {
          sandbox,
          actor: actor.id,
          action: `deadletters.${action}`,
          resource: "deadletters",
          details: { ...body, ...result },
        });
        return result;
      },
    });
  }
}
