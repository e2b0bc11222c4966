import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import { addLabelledField } from "../../governance/index.ts";
import { FIELD_TYPES, fieldDefinitionSchema, listFields } from "../../schema/index.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

export const fieldSchema = z.object({
  path: z.string(),
  type: z.enum(FIELD_TYPES),
  entity: z.enum(["profile", "event"]),
  namespace: z.string().optional(),
  primary: z.boolean(),
  labels: z.array(z.string()),
  description: z.string().optional(),
});

export function schemaRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/schema/fields",
    permission: "View Schemas",
    summary: "List the sandbox's profile fields and event properties",
    tags: ["schema"],
    response: z.object({ items: z.array(fieldSchema) }),
    handler: async ({ sandbox }) => ({ items: await listFields(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/schema/fields",
    permission: "Manage Schemas",
    summary: "Add a field (a typed column of profiles or events); its labels must be known (GET /v1/labels)",
    tags: ["schema"],
    body: fieldDefinitionSchema,
    status: 201,
    errors: [409],
    response: fieldSchema,
    handler: async ({ body, sandbox, actor }) => {
      const field = await addLabelledField(deps.store, sandbox, body);
      await recordAudit(deps.store, {
        sandbox,
        actor: actor.id,
        action: "create",
        resource: "schema_field",
        resourceId: field.path,
        details: { ...field },
      });
      return field;
    },
  });
}
