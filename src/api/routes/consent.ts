import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import {
  consentPolicyInputSchema,
  createConsentPolicy,
  deleteConsentPolicy,
  listConsentPolicies,
  setConsentPolicyStatus,
} from "../../governance/index.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

const idParams = z.object({ id: z.string().min(1) });
const tags = ["governance"];

const consentPolicyResponse = z.object({
  id: z.string(),
  name: z.string(),
  marketingAction: z.string().describe("the marketing action's id"),
  field: z.string(),
  allowedValues: z.array(z.union([z.string(), z.number(), z.boolean()])),
  status: z.enum(["enabled", "disabled"]),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** Consent policies: profiles without the consent an action needs are excluded from its exports (docs/governance.md). */
export function consentRoutes(app: FastifyInstance, deps: ApiDeps) {
  const audit = (sandbox: string, actor: string, action: string, id: string, details = {}) =>
    recordAudit(deps.store, { sandbox, actor, action, resource: "consent_policy", resourceId: id, details });

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/consent-policies",
    permission: "View Data Usage Policies",
    summary: "Consent policies: the consent each marketing action needs of a profile",
    tags,
    response: z.object({ items: z.array(consentPolicyResponse) }),
    handler: async ({ sandbox }) => ({ items: await listConsentPolicies(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/consent-policies",
    permission: "Manage Data Usage Policies",
    summary:
      "Require consent for a marketing action: exports made for it exclude profiles whose field holds none of the allowed values",
    tags,
    body: consentPolicyInputSchema,
    status: 201,
    response: consentPolicyResponse,
    handler: async ({ body, sandbox, actor }) => {
      const policy = await createConsentPolicy(deps.store, sandbox, body);
      await audit(sandbox, actor.id, "create", policy.id, {
        name: policy.name,
        marketingAction: policy.marketingAction,
        field: policy.field,
        status: policy.status,
      });
      return policy;
    },
  });
  registerRoute(app, deps, {
    method: "PATCH",
    url: "/v1/consent-policies/:id",
    permission: "Manage Data Usage Policies",
    summary: "Enable or disable a consent policy (exports made after follow)",
    tags,
    params: idParams,
    body: z.object({ status: z.enum(["enabled", "disabled"]) }).strict(),
    response: consentPolicyResponse,
    handler: async ({ params, body, sandbox, actor }) => {
      const policy = await setConsentPolicyStatus(deps.store, sandbox, params.id, body.status);
      await audit(sandbox, actor.id, "update", policy.id, { status: policy.status });
      return policy;
    },
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/consent-policies/:id",
    permission: "Manage Data Usage Policies",
    summary: "Delete a consent policy",
    tags,
    params: idParams,
    status: 204,
    handler: async ({ params, sandbox, actor, reply }) => {
      await deleteConsentPolicy(deps.store, sandbox, params.id);
      await audit(sandbox, actor.id, "delete", params.id);
      reply.status(204).send();
    },
  });
}
