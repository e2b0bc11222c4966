import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import { listDataflows } from "../../activation/index.ts";
import {
  createLabel,
  createMarketingAction,
  createPolicy,
  customLabelInputSchema,
  deleteLabel,
  deleteMarketingAction,
  deletePolicy,
  findMarketingAction,
  getPolicy,
  labelField,
  listLabels,
  listMarketingActions,
  listPolicies,
  marketingActionInputSchema,
  policiesForAction,
  policiesNamingLabel,
  policyInputSchema,
  policyPatchSchema,
  updatePolicy,
} from "../../governance/index.ts";
import type { ApiDeps } from "../deps.ts";
import { labelResponse, marketingActionResponse, policyResponse } from "../responses.ts";
import { registerRoute } from "../route.ts";
import { fieldSchema } from "./schema.ts";

const idParams = z.object({ id: z.string().min(1) });
const nameParams = z.object({ name: z.string().min(1) });
const tags = ["governance"];
/** What later edits are refused for, in the OpenAPI summaries. */
const EDIT_NOTE =
  "refused (409 policy_violation, naming the dataflows and their violations) when it would make an active dataflow violate an enabled policy";

/** Data-usage labels, marketing actions and policies (docs/governance.md). */
export function governanceRoutes(app: FastifyInstance, deps: ApiDeps) {
  const audit = (
    sandbox: string,
    actor: string,
    action: string,
    resource: string,
    resourceId: string,
    details: Record<string, unknown> = {},
  ) => recordAudit(deps.store, { sandbox, actor, action, resource, resourceId, details });

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/labels",
    permission: "View Data Usage Policies",
    summary:
      "Data-usage labels: the core ones (C1-C12, I1-I2, S1-S2) with their meaning, then the sandbox's own",
    tags,
    response: z.object({ items: z.array(labelResponse) }),
    handler: async ({ sandbox }) => ({ items: await listLabels(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/labels",
    permission: "Apply Data Usage Labels",
    summary: "Create a custom label, usable on fields and in policies",
    tags,
    body: customLabelInputSchema,
    status: 201,
    errors: [409],
    response: labelResponse,
    handler: async ({ body, sandbox, actor }) => {
      const label = await createLabel(deps.store, sandbox, body);
      await audit(sandbox, actor.id, "create", "label", label.name, { description: label.description });
      return label;
    },
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/labels/:name",
    permission: "Apply Data Usage Labels",
    summary: "Delete a custom label (refused for core labels and while a field or a policy uses it)",
    tags,
    params: nameParams,
    status: 204,
    errors: [409],
    handler: async ({ params, sandbox, actor, reply }) => {
      await deleteLabel(deps.store, sandbox, params.name, (label) =>
        policiesNamingLabel(deps.store, sandbox, label),
      );
      await audit(sandbox, actor.id, "delete", "label", params.name);
      reply.status(204).send();
    },
  });
  registerRoute(app, deps, {
    method: "PUT",
    url: "/v1/schema/fields/:path/labels",
    permission: "Apply Data Usage Labels",
    summary: `Replace a field's data-usage labels (each known: GET /v1/labels); ${EDIT_NOTE}`,
    tags: [...tags, "schema"],
    params: z.object({ path: z.string().min(1) }),
    body: z.object({
      labels: z.array(z.string()).max(50),
      entity: z.enum(["profile", "event"]).default("profile").describe("profile attribute or event property"),
    }),
    errors: [409],
    response: fieldSchema,
    handler: async ({ params, body, sandbox, actor }) => {
      const field = await labelField(
        deps.store,
        sandbox,
        { entity: body.entity, path: params.path },
        body.labels,
        deps.activeDataflows,
      );
      await audit(sandbox, actor.id, "label", "schema_field", field.path, { labels: field.labels });
      return field;
    },
  });

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/marketing-actions",
    permission: "View Data Usage Policies",
    summary: "Marketing actions: what a dataflow is for; the core ones, then the sandbox's own",
    tags,
    response: z.object({ items: z.array(marketingActionResponse) }),
    handler: async ({ sandbox }) => ({ items: await listMarketingActions(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/marketing-actions",
    permission: "Manage Data Usage Policies",
    summary: "Create a custom marketing action (its id: the name in lower case, words joined by _)",
    tags,
    body: marketingActionInputSchema,
    status: 201,
    errors: [409],
    response: marketingActionResponse,
    handler: async ({ body, sandbox, actor }) => {
      const action = await createMarketingAction(deps.store, sandbox, body);
      await audit(sandbox, actor.id, "create", "marketing_action", action.id, { name: action.name });
      return action;
    },
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/marketing-actions/:id",
    permission: "Manage Data Usage Policies",
    summary:
      "Delete a custom marketing action (refused for core ones and while a policy or a dataflow names it)",
    tags,
    params: idParams,
    status: 204,
    errors: [409],
    handler: async ({ params, sandbox, actor, reply }) => {
      const actions = await listMarketingActions(deps.store, sandbox);
      const action = await deleteMarketingAction(deps.store, sandbox, params.id, async (a) => [
        ...(await policiesForAction(deps.store, sandbox, a.id)).map((n) => `policy '${n}'`),
        ...(await listDataflows(deps.store, sandbox))
          .filter((d) => d.marketingActions.some((named) => findMarketingAction(actions, named)?.id === a.id))
          .map((d) => `dataflow '${d.name}'`),
      ]);
      await audit(sandbox, actor.id, "delete", "marketing_action", action.id, { name: action.name });
      reply.status(204).send();
    },
  });

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/policies",
    permission: "View Data Usage Policies",
    summary:
      "Marketing-action policies: the shipped core ones (disabled until enabled) and the sandbox's own",
    tags,
    response: z.object({ items: z.array(policyResponse) }),
    handler: async ({ sandbox }) => ({ items: await listPolicies(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/policies",
    permission: "Manage Data Usage Policies",
    summary: `Create a policy: the marketing action it denies when its label expression holds (a draft unless its status says otherwise); created enabled, it is ${EDIT_NOTE}`,
    tags,
    body: policyInputSchema,
    status: 201,
    errors: [409],
    response: policyResponse,
    handler: async ({ body, sandbox, actor }) => {
      const policy = await createPolicy(deps.store, sandbox, body, deps.activeDataflows);
      await audit(sandbox, actor.id, "create", "policy", policy.id, {
        name: policy.name,
        status: policy.status,
      });
      return policy;
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/policies/:id",
    permission: "View Data Usage Policies",
    summary: "One policy, by id or exact name",
    tags,
    params: idParams,
    response: policyResponse,
    handler: async ({ params, sandbox }) => getPolicy(deps.store, sandbox, params.id),
  });
  registerRoute(app, deps, {
    method: "PATCH",
    url: "/v1/policies/:id",
    permission: "Manage Data Usage Policies",
    summary: `Change a policy; {"status": "enabled"} enables it, "disabled" disables it (core policies: status only); enabling or changing an enabled one is ${EDIT_NOTE}`,
    tags,
    params: idParams,
    body: policyPatchSchema,
    errors: [409],
    response: policyResponse,
    handler: async ({ params, body, sandbox, actor }) => {
      const policy = await updatePolicy(deps.store, sandbox, params.id, body, deps.activeDataflows);
      await audit(sandbox, actor.id, "update", "policy", policy.id, { name: policy.name, changes: body });
      return policy;
    },
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/policies/:id",
    permission: "Manage Data Usage Policies",
    summary: "Delete a policy of the sandbox's own (core policies are disabled instead)",
    tags,
    params: idParams,
    status: 204,
    errors: [409],
    handler: async ({ params, sandbox, actor, reply }) => {
      const policy = await deletePolicy(deps.store, sandbox, params.id);
      await audit(sandbox, actor.id, "delete", "policy", policy.id, { name: policy.name });
      reply.status(204).send();
    },
  });
}
