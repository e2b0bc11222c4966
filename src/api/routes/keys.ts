import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { KEY_PROVIDER_KINDS } from "../../crypto/index.ts";
import { keyStatus } from "../../destinations/index.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

const keyStatusSchema = z.object({
  provider: z.enum(KEY_PROVIDER_KINDS).describe("where the sealing key lives (HERALD_KEY_PROVIDER)"),
  keyId: z
    .string()
    .describe("the key new values are sealed with: 'local', a KMS key ARN or a Key Vault key URL"),
  sealedValues: z
    .array(z.object({ keyId: z.string(), values: z.number().int(), current: z.boolean() }))
    .describe("how many sealed values (accounts' credentials) each key sealed"),
});

/** The key that seals credentials, for the whole Herald (not one sandbox): ids and counts only. */
export function keyRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/keys",
    permission: "Manage Customer Managed Key",
    sandboxed: false,
    summary: "The key sealing credentials and how many values each key sealed",
    tags: ["keys"],
    response: keyStatusSchema,
    handler: async () => keyStatus(deps),
  });
}
