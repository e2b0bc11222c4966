import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../access/index.ts";
import {
  ALERT_EVENTS,
  alertSubscriptionInputSchema,
  createAlertSubscription,
  deleteAlertSubscription,
  getAlertSubscription,
  listAlertDeliveries,
  listAlertSubscriptions,
} from "../../activation/alerts/index.ts";
import type { ApiDeps } from "../deps.ts";
import { registerRoute } from "../route.ts";

const idParams = z.object({ id: z.string().min(1) });
const isoTime = z.string().describe("ISO 8601 time (UTC)");

const subscriptionResponse = z.object({
  id: z.string(),
  name: z.string(),
  accountId: z.string(),
  events: z.array(z.enum(ALERT_EVENTS)),
  dataflowId: z.string().nullable(),
  delayedAfterMinutes: z.number(),
  skippedRateAbovePercent: z.number(),
  createdAt: isoTime,
});

/** Alerts on file exports' runs, POSTed as JSON to an HTTP API account (docs/activation.md, "Alerts"). */
export function alertRoutes(app: FastifyInstance, deps: ApiDeps) {
  const audit = (sandbox: string, actor: string, action: string, id: string, details = {}) =>
    recordAudit(deps.store, { sandbox, actor, action, resource: "alert", resourceId: id, details });

  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/alerts",
    permission: "View Destinations",
    summary: "Alert subscriptions: which run events are sent to which HTTP API account",
    tags: ["alerts"],
    response: z.object({ items: z.array(subscriptionResponse) }),
    handler: async ({ sandbox }) => ({ items: await listAlertSubscriptions(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/alerts",
    permission: "Manage Destinations",
    summary:
      "Subscribe an HTTP API account to run events (started, succeeded, failed, delayed, skipped rate)",
    tags: ["alerts"],
    body: alertSubscriptionInputSchema,
    status: 201,
    response: subscriptionResponse,
    handler: async ({ body, sandbox, actor }) => {
      const subscription = await createAlertSubscription(deps, sandbox, body);
      await audit(sandbox, actor.id, "create", subscription.id, {
        name: subscription.name,
        events: subscription.events,
      });
      return subscription;
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/alerts/:id",
    permission: "View Destinations",
    summary: "An alert subscription and its latest alerts: sent, or failed with the reason",
    tags: ["alerts"],
    params: idParams,
    response: subscriptionResponse.extend({
      deliveries: z.array(
        z.object({
          subscriptionId: z.string(),
          runId: z.string(),
          event: z.enum(ALERT_EVENTS),
          status: z.enum(["sending", "sent", "failed"]),
          error: z.string().nullable(),
          at: isoTime,
        }),
      ),
    }),
    handler: async ({ params, sandbox }) => ({
      ...(await getAlertSubscription(deps.store, sandbox, params.id)),
      deliveries: await listAlertDeliveries(deps.store, sandbox, params.id),
    }),
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/alerts/:id",
    permission: "Manage Destinations",
    summary: "Delete an alert subscription",
    tags: ["alerts"],
    params: idParams,
    status: 204,
    handler: async ({ params, sandbox, actor, reply }) => {
      await deleteAlertSubscription(deps.store, sandbox, params.id);
      await audit(sandbox, actor.id, "delete", params.id);
      reply.status(204).send();
    },
  });
}
