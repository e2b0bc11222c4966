import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  createUser,
  deleteUser,
  getUser,
  listUsers,
  recordAccessChange,
  USER_ADMINISTRATION,
  updateUser,
  userInputSchema,
  userPatchSchema,
} from "../../access/index.ts";
import { userListResponse, userResponse } from "../access-responses.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

const idParams = z.object({ id: z.string().min(1) });
const common = { permission: USER_ADMINISTRATION, sandboxed: false, tags: ["users"] };

export function userRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    ...common,
    method: "GET",
    url: "/v1/users",
    summary: "Users with their roles",
    response: userListResponse,
    handler: async () => ({ items: await listUsers(deps.store) }),
  });
  registerRoute(app, deps, {
    ...common,
    method: "POST",
    url: "/v1/users",
    summary: "Create a user, with roles given by name; they call the API with tokens made for them",
    body: userInputSchema.strict(),
    status: 201,
    errors: [409],
    response: userResponse,
    handler: async ({ body, actor }) => {
      const user = await createUser(deps.store, body);
      await recordAccessChange(deps.store, actor.id, "create", "user", user.id, {
        name: user.name,
        roles: user.roles,
      });
      return user;
    },
  });
  registerRoute(app, deps, {
    ...common,
    method: "GET",
    url: "/v1/users/:id",
    summary: "One user",
    params: idParams,
    response: userResponse,
    handler: async ({ params }) => getUser(deps.store, params.id),
  });
  registerRoute(app, deps, {
    ...common,
    method: "PATCH",
    url: "/v1/users/:id",
    summary:
      "Disable or enable a user, change their display name, or replace their roles; refused if no enabled user would be left with Manage Users and Roles",
    params: idParams,
    body: userPatchSchema.strict(),
    errors: [409],
    response: userResponse,
    handler: async ({ params, body, actor }) => {
      const user = await updateUser(deps.store, params.id, body);
      await recordAccessChange(deps.store, actor.id, "update", "user", user.id, { name: user.name, ...body });
      return user;
    },
  });
  registerRoute(app, deps, {
    ...common,
    method: "DELETE",
    url: "/v1/users/:id",
    summary:
      "Delete a user with their tokens; refused if no enabled user would be left with Manage Users and Roles",
    params: idParams,
    status: 204,
    errors: [409],
    handler: async ({ params, actor }) => {
      const user = await deleteUser(deps.store, params.id);
      await recordAccessChange(deps.store, actor.id, "delete", "user", user.id, { name: user.name });
    },
  });
}
