import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  createRole,
  deleteRole,
  getRole,
  listRoles,
  recordAccessChange,
  roleInputSchema,
  rolePatchSchema,
  USER_ADMINISTRATION,
  updateRole,
} from "../../access/index.ts";
import { roleListResponse, roleResponse } from "../access-responses.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

const idParams = z.object({ id: z.string().min(1) });
const common = { permission: USER_ADMINISTRATION, sandboxed: false, tags: ["roles"] };

export function roleRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    ...common,
    method: "GET",
    url: "/v1/roles",
    summary: "Roles: the permissions each grants and the sandboxes it applies in",
    response: roleListResponse,
    handler: async () => ({ items: await listRoles(deps.store) }),
  });
  registerRoute(app, deps, {
    ...common,
    method: "POST",
    url: "/v1/roles",
    summary: "Create a role granting permissions in some sandboxes, or in all of them",
    body: roleInputSchema.strict(),
    status: 201,
    errors: [409],
    response: roleResponse,
    handler: async ({ body, actor }) => {
      const role = await createRole(deps.store, body);
      const { id, name, permissions, sandboxes } = role;
      await recordAccessChange(deps.store, actor.id, "create", "role", id, { name, permissions, sandboxes });
      return role;
    },
  });
  registerRoute(app, deps, {
    ...common,
    method: "GET",
    url: "/v1/roles/:id",
    summary: "One role",
    params: idParams,
    response: roleResponse,
    handler: async ({ params }) => getRole(deps.store, params.id),
  });
  registerRoute(app, deps, {
    ...common,
    method: "PATCH",
    url: "/v1/roles/:id",
    summary:
      "Change a role's name, description, permissions or sandboxes; refused for the shipped Administrator, and if no enabled user would be left with Manage Users and Roles",
    params: idParams,
    body: rolePatchSchema.strict(),
    errors: [409],
    response: roleResponse,
    handler: async ({ params, body, actor }) => {
      const role = await updateRole(deps.store, params.id, body);
      await recordAccessChange(deps.store, actor.id, "update", "role", role.id, { name: role.name, ...body });
      return role;
    },
  });
  registerRoute(app, deps, {
    ...common,
    method: "DELETE",
    url: "/v1/roles/:id",
    summary: "Delete a role no user holds; the shipped Administrator cannot be deleted",
    params: idParams,
    status: 204,
    errors: [409],
    handler: async ({ params, actor }) => {
      const role = await deleteRole(deps.store, params.id);
      await recordAccessChange(deps.store, actor.id, "delete", "role", role.id, { name: role.name });
    },
  });
}
