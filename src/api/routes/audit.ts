import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { listAudit } from "../../access/index.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

export function auditRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/audit",
    permission: "View User Activity Log",
    summary: "Who changed what, newest first",
    tags: ["audit"],
    query: z.object({
      resource: z.string().optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
    handler: async ({ query, sandbox }) => ({ items: await listAudit(deps.store, sandbox, query) }),
  });
}
