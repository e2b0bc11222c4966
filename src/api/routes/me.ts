import type { FastifyInstance } from "fastify";
import { describeCaller } from "../../access/index.ts";
import { callerResponse } from "../access-responses.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

export function meRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/me",
    permission: [],
    summary: "Who the caller is in the sandbox: their name, the roles that apply there and what they allow",
    tags: ["users"],
    response: callerResponse,
    handler: async ({ actor, sandbox }) => describeCaller(deps.store, actor, sandbox),
  });
}
