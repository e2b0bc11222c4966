import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit, requirePermission } from "../../access/index.ts";
import {
  ACTIVATION_PERMISSIONS,
  createDataflow,
  dataflowInputSchema,
  dataflowViolations,
  deleteDataflow,
  getDataflow,
  getRun,
  IDENTITY_EXPORT_RULE,
  listDataflows,
  listRuns,
  type Run,
  requireActivationPermissions,
  runFilterSchema,
  runsStartedBefore,
  setDataflowStatus,
  updateDataflow,
} from "../../activation/index.ts";
import { getAccount } from "../../destinations/index.ts";
import type { ApiDeps } from "../deps.ts";
import {
  dataflowListResponse,
  dataflowResponse,
  policyCheckResponse,
  runListResponse,
  runResponse,
  savedDataflowResponse,
} from "../responses.ts";
import { type ErrorStatus, registerRoute } from "../route.ts";
import { auditAccountCreated } from "./destinations.ts";

const idParams = z.object({ id: z.string().min(1) });
/**
 * An inline `account` is checked against the service: refused, throttled or unreachable; an
 * enabled dataflow violating a data-usage policy is refused with 409 `policy_violation`.
 */
const SAVE_ERRORS: ErrorStatus[] = [409, 422, 429, 503];
/** What saving says about data-usage policies, for the OpenAPI summaries. */
const POLICY_NOTE =
  "an enabled dataflow that violates an enabled data-usage policy is refused (409 policy_violation, `details.violations`); a draft or disabled one is saved with them in `policyViolations`";
/** An export refused while one runs, or for a draft or paused dataflow; the key provider may be down. */
const EXPORT_ERRORS: ErrorStatus[] = [409, 503];

/** Saving a definition may connect an account on the way, which POST /v1/accounts guards. */
const SAVE_NOTE = `${IDENTITY_EXPORT_RULE}; Manage Destinations too with an inline \`account\``;

export function dataflowRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/dataflows",
    permission: "View Destinations",
    summary: "Dataflows (activations) with their segments and schedules",
    tags: ["dataflows"],
    response: dataflowListResponse,
    handler: async ({ sandbox }) => ({ items: await listDataflows(deps.store, sandbox) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/dataflows",
    permission: ACTIVATION_PERMISSIONS,
    permissionNote: SAVE_NOTE,
    summary: `Create a dataflow: account, details, marketing actions, segments with schedules, mapping, file options; ${POLICY_NOTE}`,
    tags: ["dataflows"],
    body: dataflowInputSchema,
    status: 201,
    response: savedDataflowResponse,
    errors: SAVE_ERRORS,
    handler: async ({ body, sandbox, actor }) => {
      await requireActivationPermissions(deps.store, sandbox, actor, body);
      // Connecting an account on the way takes the permission POST /v1/accounts takes.
      if (body.account) requirePermission(actor, "Manage Destinations");
      const dataflow = await createDataflow(deps, sandbox, body);
      if (body.account) {
        await auditAccountCreated(deps, sandbox, actor, await getAccount(deps, sandbox, dataflow.accountId));
      }
      await recordAudit(deps.store, {
        sandbox,
        actor: actor.id,
        action: "create",
        resource: "dataflow",
        resourceId: dataflow.id,
        details: { name: dataflow.name, status: dataflow.status },
      });
      return dataflow;
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/dataflows/:id",
    permission: "View Destinations",
    summary: "One dataflow",
    tags: ["dataflows"],
    params: idParams,
    response: dataflowResponse,
    handler: async ({ params, sandbox }) => getDataflow(deps.store, sandbox, params.id),
  });
  registerRoute(app, deps, {
    method: "PUT",
    url: "/v1/dataflows/:id",
    permission: ACTIVATION_PERMISSIONS,
    permissionNote: SAVE_NOTE,
    summary: `Replace a dataflow's definition (effective from the next run); ${POLICY_NOTE}`,
    tags: ["dataflows"],
    params: idParams,
    body: dataflowInputSchema,
    response: savedDataflowResponse,
    errors: SAVE_ERRORS,
    handler: async ({ params, body, sandbox, actor }) => {
      await requireActivationPermissions(deps.store, sandbox, actor, body);
      if (body.account) requirePermission(actor, "Manage Destinations");
      const dataflow = await updateDataflow(deps, sandbox, params.id, body);
      if (body.account) {
        await auditAccountCreated(deps, sandbox, actor, await getAccount(deps, sandbox, dataflow.accountId));
      }
      await recordAudit(deps.store, {
        sandbox,
        actor: actor.id,
        action: "update",
        resource: "dataflow",
        resourceId: dataflow.id,
        details: { name: dataflow.name, status: dataflow.status },
      });
      return dataflow;
    },
  });
  for (const [action, status] of [
    ["pause", "disabled"],
    ["resume", "enabled"],
    ["activate", "enabled"],
  ] as const) {
    registerRoute(app, deps, {
      method: "POST",
      url: `/v1/dataflows/:id/${action}`,
      // Pausing stops sending; resuming and activating send, so they need what activating needs.
      ...(action === "pause"
        ? { permission: "Activate Destinations" as const }
        : { permission: ACTIVATION_PERMISSIONS, permissionNote: IDENTITY_EXPORT_RULE }),
      summary: `${action[0]?.toUpperCase()}${action.slice(1)} a dataflow${action === "pause" ? "" : "; refused (409 policy_violation) when it violates an enabled data-usage policy"}`,
      tags: ["dataflows"],
      params: idParams,
      response: dataflowResponse,
      ...(action === "pause" ? {} : { errors: [409] as ErrorStatus[] }),
      handler: async ({ params, sandbox, actor }) => {
        if (action !== "pause") {
          await requireActivationPermissions(
            deps.store,
            sandbox,
            actor,
            await getDataflow(deps.store, sandbox, params.id),
          );
        }
        await setDataflowStatus(deps.store, sandbox, params.id, status, new Date(), deps.catalog);
        await recordAudit(deps.store, {
          sandbox,
          actor: actor.id,
          action,
          resource: "dataflow",
          resourceId: params.id,
          details: { status },
        });
        return getDataflow(deps.store, sandbox, params.id);
      },
    });
  }
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/dataflows/:id/policy-check",
    permission: ["View Destinations", "View Data Usage Policies"],
    summary:
      "The enabled data-usage policies the dataflow violates now, each with its labels, lineage and suggestions (for review screens)",
    tags: ["dataflows", "governance"],
    params: idParams,
    response: policyCheckResponse,
    handler: async ({ params, sandbox }) => ({
      violations: await dataflowViolations(deps, sandbox, await getDataflow(deps.store, sandbox, params.id)),
    }),
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/dataflows/:id",
    permission: "Activate Destinations",
    summary: "Delete a dataflow",
    tags: ["dataflows"],
    params: idParams,
    status: 204,
    errors: [409],
    handler: async ({ params, sandbox, actor, reply }) => {
      await deleteDataflow(deps.store, sandbox, params.id);
      await recordAudit(deps.store, {
        sandbox,
        actor: actor.id,
        action: "delete",
        resource: "dataflow",
        resourceId: params.id,
        details: {},
      });
      reply.status(204).send();
    },
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/dataflows/:id/runs",
    permission: ACTIVATION_PERMISSIONS,
    permissionNote: IDENTITY_EXPORT_RULE,
    summary:
      "Export now: one extra export of each segment (or of `segmentId`), full or incremental as the segment's mode says, without changing the schedule",
    tags: ["runs"],
    params: idParams,
    body: z.object({ segmentId: z.string().optional() }).optional(),
    status: 202,
    response: runListResponse,
    responseDescription: "The runs started (queued or running); follow them with GET /v1/runs/{id}",
    errors: EXPORT_ERRORS,
    handler: async ({ params, body, sandbox, actor }) => {
      if (!deps.activation) throw new Error("activation is not wired");
      await requireActivationPermissions(
        deps.store,
        sandbox,
        actor,
        await getDataflow(deps.store, sandbox, params.id),
      );
      const audit = (runs: readonly Run[]) =>
        recordAudit(deps.store, {
          sandbox,
          actor: actor.id,
          action: "trigger",
          resource: "dataflow",
          resourceId: params.id,
          details: { runs: runs.map((r) => r.id) },
        });
      try {
        const runs = await deps.activation.triggerNow(sandbox, params.id, body?.segmentId);
        await audit(runs);
        return { items: runs };
      } catch (error) {
        // Refused part-way: the runs that did start are exports all the same.
        const started = runsStartedBefore(error);
        if (started.length) await audit(started);
        throw error;
      }
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/runs",
    permission: "View Destinations",
    summary: "Run history across dataflows, filtered by dataflow, status and time",
    tags: ["runs"],
    query: runFilterSchema,
    response: runListResponse,
    handler: async ({ query, sandbox }) => ({ items: await listRuns(deps.store, sandbox, query) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/runs/:id/rerun",
    permission: ACTIVATION_PERMISSIONS,
    permissionNote: IDENTITY_EXPORT_RULE,
    summary: "Run a past run again for its scheduled time: same file names, replacing the files it delivered",
    tags: ["runs"],
    params: idParams,
    status: 202,
    response: runResponse,
    responseDescription: "The new run (queued or running); follow it with GET /v1/runs/{id}",
    errors: EXPORT_ERRORS,
    handler: async ({ params, sandbox, actor }) => {
      if (!deps.activation) throw new Error("activation is not wired");
      const { dataflowId } = await getRun(deps.store, sandbox, params.id);
      await requireActivationPermissions(
        deps.store,
        sandbox,
        actor,
        await getDataflow(deps.store, sandbox, dataflowId),
      );
      const run = await deps.activation.rerun(sandbox, params.id);
      await recordAudit(deps.store, {
        sandbox,
        actor: actor.id,
        action: "rerun",
        resource: "run",
        resourceId: params.id,
        details: { run: run.id },
      });
      return run;
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/runs/:id",
    permission: "View Destinations",
    summary: "One run: status, counts, exclusions by reason, files with sizes and checksums, errors",
    tags: ["runs"],
    params: idParams,
    response: runResponse,
    handler: async ({ params, sandbox }) => getRun(deps.store, sandbox, params.id),
  });
}
