import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  createToken,
  getToken,
  getUser,
  listTokens,
  type Permission,
  recordAccessChange,
  requireTokenManager,
  revokeToken,
  tokenInputSchema,
} from "../../access/index.ts";
import { notFound } from "../../errors/index.ts";
import { createdTokenResponse, tokenListResponse } from "../access-responses.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

const userParams = z.object({ id: z.string().min(1) });
const common = {
  // Checked by the handler: a user manages their own tokens.
  permission: [] as Permission[],
  permissionNote: "Manage Users and Roles, unless the user is the caller",
  sandboxed: false,
  tags: ["tokens"],
};

export function tokenRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    ...common,
    method: "GET",
    url: "/v1/users/:id/tokens",
    summary: "A user's API tokens, without their secrets",
    params: userParams,
    response: tokenListResponse,
    handler: async ({ params, actor }) => {
      const user = await getUser(deps.store, params.id);
      requireTokenManager(actor, user);
      return { items: await listTokens(deps.store, user.id) };
    },
  });
  registerRoute(app, deps, {
    ...common,
    method: "POST",
    url: "/v1/users/:id/tokens",
    summary: "Create an API token for a user: `secret` is in this answer only, and stored nowhere",
    params: userParams,
    body: tokenInputSchema.strict(),
    status: 201,
    response: createdTokenResponse,
    handler: async ({ params, body, actor }) => {
      const user = await getUser(deps.store, params.id);
      requireTokenManager(actor, user);
      const { token, secret } = await createToken(deps.store, user.id, body);
      await recordAccessChange(deps.store, actor.id, "create", "token", token.id, {
        user: user.name,
        name: token.name,
        ...(token.expiresAt ? { expiresAt: token.expiresAt.toISOString() } : {}),
      });
      return { ...token, secret };
    },
  });
  registerRoute(app, deps, {
    ...common,
    method: "DELETE",
    url: "/v1/users/:id/tokens/:tokenId",
    summary: "Revoke an API token for good: it is refused from now on",
    params: userParams.extend({ tokenId: z.string().min(1) }),
    status: 204,
    handler: async ({ params, actor }) => {
      const user = await getUser(deps.store, params.id);
      requireTokenManager(actor, user);
      const token = await getToken(deps.store, params.tokenId);
      if (token.userId !== user.id) throw notFound("token", params.tokenId);
      await revokeToken(deps.store, token.id);
      await recordAccessChange(deps.store, actor.id, "revoke", "token", token.id, {
        user: user.name,
        name: token.name,
      });
    },
  });
}
