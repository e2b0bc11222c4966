/** The shapes of the access answers (users, roles, tokens, the caller), for the OpenAPI document. */
import { z } from "zod";
import { PERMISSIONS } from "../access/index.ts";

const isoTime = z.string().describe("ISO 8601 time (UTC)");

export const userResponse = z.object({
  id: z.string(),
  name: z.string().describe("what the audit log records as the actor"),
  displayName: z.string().optional(),
  createdAt: isoTime,
  disabled: z.boolean(),
  roles: z.array(z.string()).describe("the names of the roles the user holds"),
});
export const userListResponse = z.object({ items: z.array(userResponse) });

export const roleResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  permissions: z.array(z.enum(PERMISSIONS)),
  sandboxes: z.union([z.literal("all"), z.array(z.string())]),
  builtin: z.boolean().describe("the shipped Administrator: cannot be changed or deleted"),
  createdAt: isoTime,
});
export const roleListResponse = z.object({ items: z.array(roleResponse) });

export const tokenResponse = z.object({
  id: z.string(),
  userId: z.string(),
  name: z.string(),
  createdAt: isoTime,
  expiresAt: isoTime.optional(),
  lastUsedAt: isoTime.optional().describe("to the minute: not written on every request"),
  revokedAt: isoTime.optional(),
});
export const tokenListResponse = z.object({ items: z.array(tokenResponse) });
export const createdTokenResponse = tokenResponse.extend({
  secret: z.string().describe("the token, `hrld_...`: shown in this answer only, stored nowhere"),
});

export const callerResponse = z.object({
  name: z.string(),
  user: z.boolean().describe("false for the local administrator (HERALD_AUTH=none)"),
  sandbox: z.string(),
  roles: z.array(z.string()).describe("the caller's roles that apply in the sandbox"),
  permissions: z.array(z.enum(PERMISSIONS)).describe("what those roles allow in the sandbox"),
});
