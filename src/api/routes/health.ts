import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

export function healthRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/healthz",
    permission: null,
    sandboxed: false,
    summary: "Liveness and store reachability",
    tags: ["health"],
    response: z.object({ status: z.literal("ok"), engine: z.string() }),
    handler: async () => {
      await deps.store.queryGlobal("SELECT 1 AS ok");
      return { status: "ok" as const, engine: deps.store.engine };
    },
  });
}
