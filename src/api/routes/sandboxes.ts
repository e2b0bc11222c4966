import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import { installDefaultSchema } from "../../schema/index.ts";
import { createSandbox, listSandboxes } from "../../store/index.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

const sandboxSchema = z.object({ name: z.string(), title: z.string(), createdAt: z.string() });

export function sandboxRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/sandboxes",
    permission: "Manage Sandboxes",
    sandboxed: false,
    summary: "List sandboxes",
    tags: ["sandboxes"],
    response: z.object({ items: z.array(sandboxSchema) }),
    handler: async () => ({ items: await listSandboxes(deps.store) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/sandboxes",
    permission: "Manage Sandboxes",
    sandboxed: false,
    summary: "Create a sandbox with the default customer-profile schema",
    tags: ["sandboxes"],
    body: z.object({ name: z.string(), title: z.string().max(200).optional() }),
    status: 201,
    errors: [409],
    response: sandboxSchema,
    handler: async ({ body, actor }) => {
      const sandbox = await createSandbox(deps.store, body.name, body.title);
      await installDefaultSchema(deps.store, sandbox.name);
      await recordAudit(deps.store, {
        sandbox: sandbox.name,
        actor: actor.id,
        action: "create",
        resource: "sandbox",
        resourceId: sandbox.name,
        details: {},
      });
      return sandbox;
    },
  });
}
