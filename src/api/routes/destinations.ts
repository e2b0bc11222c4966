import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { type Actor, recordAudit } from "../../access/index.ts";
import {
  type Account,
  accountPatchSchema,
  accountUpdateAuditDetails,
  createAccount,
  type DestinationDefinition,
  deleteAccount,
  getAccount,
  listAccounts,
  newAccountSchema,
  revalidateAccount,
  updateAccount,
} from "../../destinations/index.ts";
import type { ApiDeps } from "../deps.ts";
import { accountListResponse, accountResponse } from "../responses.ts";
import { type ErrorStatus, registerRoute } from "../route.ts";

const categories = ["cloud_storage", "streaming", "email_marketing", "advertising"] as const;

/** An account's creation in the audit log, whether connected alone or on a dataflow's way. */
export function auditAccountCreated(deps: ApiDeps, sandbox: string, actor: Actor, account: Account) {
  return recordAudit(deps.store, {
    sandbox,
    actor: actor.id,
    action: "create",
    resource: "account",
    resourceId: account.id,
    details: {
      destination: account.destinationId,
      name: account.name,
      ...(account.recordsPerSecond === null ? {} : { recordsPerSecond: account.recordsPerSecond }),
      ...(account.encryption ? { encryptionKey: account.encryption.fingerprint } : {}),
    },
  });
}

/** A catalog entry as clients see it: the forms come from the connector's own schemas. */
export function describeDestination(d: DestinationDefinition) {
  const connection = z.toJSONSchema(d.connectionSchema, { unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    category: d.category,
    exportType: d.exportType,
    kind: d.connector.kind,
    secretFields: [...d.secretFields],
    connectionSchema: connection,
    detailsSchema: z.toJSONSchema(d.detailsSchema, { unrepresentable: "any" }),
    ...(d.presets ? { presets: d.presets } : {}),
  };
}

const idParams = z.object({ id: z.string().min(1) });
/** Checking credentials against the service: refused, throttled or unreachable. */
const CHECK_ERRORS: ErrorStatus[] = [422, 429, 503];

export function destinationRoutes(app: FastifyInstance, deps: ApiDeps) {
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/destinations",
    permission: "View Destinations",
    summary: "The destination catalog, filtered by category or text",
    tags: ["destinations"],
    query: z.object({ category: z.enum(categories).optional(), search: z.string().max(100).optional() }),
    handler: async ({ query }) => ({ items: deps.catalog.list(query).map(describeDestination) }),
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/destinations/:id",
    permission: "View Destinations",
    summary: "One catalog entry with its connection and details schemas",
    tags: ["destinations"],
    params: idParams,
    handler: async ({ params }) => describeDestination(deps.catalog.get(params.id)),
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/accounts",
    permission: "View Destinations",
    summary: "Saved destination accounts (credentials are never returned)",
    tags: ["accounts"],
    query: z.object({ destination: z.string().optional() }),
    response: accountListResponse,
    handler: async ({ query, sandbox }) => ({ items: await listAccounts(deps, sandbox, query.destination) }),
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/accounts",
    permission: "Manage Destinations",
    summary: "Connect an account: its credentials are checked against the service before it is saved",
    tags: ["accounts"],
    body: newAccountSchema,
    status: 201,
    response: accountResponse,
    errors: CHECK_ERRORS,
    handler: async ({ body, sandbox, actor }) => {
      const account = await createAccount(deps, sandbox, {
        destinationId: body.destination,
        name: body.name,
        connection: body.connection,
        details: body.details,
        recordsPerSecond: body.recordsPerSecond,
        encryptionKey: body.encryptionKey,
      });
      await auditAccountCreated(deps, sandbox, actor, account);
      return account;
    },
  });
  registerRoute(app, deps, {
    method: "GET",
    url: "/v1/accounts/:id",
    permission: "View Destinations",
    summary: "One account",
    tags: ["accounts"],
    params: idParams,
    response: accountResponse,
    handler: async ({ params, sandbox }) => getAccount(deps, sandbox, params.id),
  });
  registerRoute(app, deps, {
    method: "PATCH",
    url: "/v1/accounts/:id",
    permission: "Manage Destinations",
    summary:
      "Rename an account, give it new credentials (checked against the service before they are saved) or its own rate for streamed records",
    tags: ["accounts"],
    params: idParams,
    body: accountPatchSchema,
    response: accountResponse,
    errors: CHECK_ERRORS,
    handler: async ({ params, body, sandbox, actor }) => {
      const update = await updateAccount(deps, sandbox, params.id, body);
      await recordAudit(deps.store, {
        sandbox,
        actor: actor.id,
        action: "update",
        resource: "account",
        resourceId: params.id,
        details: accountUpdateAuditDetails(update),
      });
      return update.account;
    },
  });
  registerRoute(app, deps, {
    method: "POST",
    url: "/v1/accounts/:id/validate",
    permission: "Manage Destinations",
    summary: "Check the stored credentials again",
    tags: ["accounts"],
    params: idParams,
    body: z.object({ details: z.record(z.string(), z.unknown()).optional() }).optional(),
    errors: CHECK_ERRORS,
    handler: async ({ params, body, sandbox }) => revalidateAccount(deps, sandbox, params.id, body?.details),
  });
  registerRoute(app, deps, {
    method: "DELETE",
    url: "/v1/accounts/:id",
    permission: "Manage Destinations",
    summary: "Delete an account (refused while a dataflow uses it)",
    tags: ["accounts"],
    params: idParams,
    status: 204,
    errors: [409],
    handler: async ({ params, sandbox, actor, reply }) => {
      await deleteAccount(
        deps,
        sandbox,
        params.id,
        (id) => deps.accountUsers?.(sandbox, id) ?? Promise.resolve([]),
      );
      await recordAudit(deps.store, {
        sandbox,
        actor: actor.id,
        action: "delete",
        resource: "account",
        resourceId: params.id,
        details: {},
      });
      reply.status(204).send();
    },
  });
}
