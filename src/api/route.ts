import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { type Actor, localAdministrator, type Permission, requirePermission } from "../access/index.ts";
import { parseInput } from "../errors/index.ts";
import { DEFAULT_SANDBOX, requireSandbox } from "../store/index.ts";
import type { ApiDeps } from "./deps.ts";
import { ERROR_SCHEMA_ID } from "./errors.ts";

export const SANDBOX_HEADER = "x-sandbox-name";

/** The OpenAPI security scheme of API tokens (`Authorization: Bearer hrld_...`). */
export const BEARER_SCHEME = "bearerToken";

export interface RouteContext<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  sandbox: string;
  actor: Actor;
  deps: ApiDeps;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * One route: its permission, its schemas (which validate the request AND produce the OpenAPI
 * document) and its handler. Handlers receive parsed, typed input and the caller's sandbox.
 */
export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  /**
   * Checked before the handler, every one of them; `[]` for a route any authenticated caller may
   * call (what it checks itself goes in `permissionNote`); `null` only for the public health and
   * documentation routes, which need no token.
   */
  permission: Permission | readonly Permission[] | null;
  /** What the handler checks beyond `permission`, in words, for the OpenAPI description. */
  permissionNote?: string;
  summary: string;
  tags: string[];
  body?: B;
  query?: Q;
  params?: P;
  /**
   * The success answer's shape, for the OpenAPI document only: Fastify's serializer is replaced
   * by JSON.stringify (src/api/server.ts), so a schema never drops a field from an answer.
   */
  response?: z.ZodType;
  /** What the success answer is, in words; by default what its status says. */
  responseDescription?: string;
  status?: number;
  /** Other success statuses the handler sends itself, with what they mean (207 for partial ingestion). */
  otherSuccesses?: Readonly<Record<number, string>>;
  /**
   * Error statuses beyond those every route may answer: 400, 500 and 503 on all, 403 with a permission,
   * 404 with a path id or a sandbox, 413 and 415 with a body.
   */
  errors?: readonly ErrorStatus[];
  /** A body read as a stream (NDJSON) rather than parsed here: described in words for the document. */
  streamedBody?: string;
  /** The success answer's content type when it is text, not JSON (the Prometheus exposition). */
  textResponse?: string;
  /** Routes outside any sandbox (health, sandbox administration) set this to false. */
  sandboxed?: boolean;
  /** Extra content types the body accepts (streamed routes); JSON is the default. */
  consumes?: string[];
  handler: (context: RouteContext<z.infer<B>, z.infer<Q>, z.infer<P>>) => Promise<unknown>;
}

/**
 * Who is calling, in a sandbox (`null` for routes outside sandboxes), or why not (401). Without a
 * resolver (HERALD_AUTH=none) every caller is the local administrator; with HERALD_AUTH=token the
 * server installs the token resolver (src/api/authentication.ts); tests give actors without some
 * permissions.
 */
export type ActorResolver = (request: FastifyRequest, sandbox: string | null) => Actor | Promise<Actor>;

export interface ActorDeps {
  resolveActor?: ActorResolver;
}

/**
 * The OpenAPI description of a route's permissions: every one it checks, joined with `+` as users
 * know composite rules ("View Destinations + Activate Destinations"), conditional ones in words.
 */
export function permissionDescription(permission: Permission | readonly Permission[], note?: string): string {
  const list = typeof permission === "string" ? [permission] : permission;
  const names = `Requires permission: ${list.length ? list.join(" + ") : "none beyond a valid token"}`;
  return note ? `${names}; ${note}` : names;
}

const openapi = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: "openapi-3.0", unrepresentable: "any" });

/** The error statuses a route may document, each with what it means for every route. */
const errorDescriptions = {
  400: "Invalid input: `issues` names each faulty field",
  401: "HERALD_AUTH=token and no valid API token: missing, unknown, revoked or expired, or its user disabled",
  403: "The caller lacks a permission the route checks (named in the message)",
  404: "The sandbox, or the resource the path names, does not exist",
  409: "Refused in the resource's current state (exists already, in use, running, draft or paused) or by a data-usage policy (`policy_violation`, its violations in `details`)",
  413: "The body is larger than HERALD_MAX_BODY_BYTES",
  415: "The body's content type is not one the route reads",
  422: "The destination refused the credentials",
  429: "The destination asked to slow down; try again later",
  500: "Internal error: logged in full, shown only as a `reference` id",
  503: "A service the route needs is unavailable: the store (PostgreSQL out of reach), the destination, the key provider, streaming",
} as const;
export type ErrorStatus = keyof typeof errorDescriptions;

const successDescriptions: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted: the work goes on in the background",
  204: "Done; no content",
};

/** Every status a route may answer, documented: its success with a schema where known, its errors. */
function documentedResponses<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
  spec: RouteSpec<B, Q, P>,
  sandboxed: boolean,
): Record<number, Record<string, unknown>> {
  const status = spec.status ?? 200;
  const description = spec.responseDescription ?? successDescriptions[status] ?? "OK";
  const success =
    status === 204
      ? { type: "null", description }
      : spec.textResponse
        ? { description, content: { [spec.textResponse]: { schema: { type: "string" } } } }
        : spec.response
          ? { ...openapi(spec.response), "x-response-description": description }
          : // Every JSON answer is an object; its fields are the summary's words until it has a schema.
            { type: "object", description };
  // Every route reads the store, which answers 503 while PostgreSQL is out of reach.
  const errors = new Set<ErrorStatus>([400, 500, 503, ...(spec.errors ?? [])]);
  if (spec.permission) {
    errors.add(401);
    errors.add(403);
  }
  if (spec.params || sandboxed) errors.add(404);
  if (spec.body || spec.streamedBody) {
    errors.add(413);
    errors.add(415);
  }
  return {
    [status]: success,
    ...Object.fromEntries(
      Object.entries(spec.otherSuccesses ?? {}).map(([code, d]) => [code, { description: d }]),
    ),
    ...Object.fromEntries(
      [...errors]
        .sort((a, b) => a - b)
        .map((code) => [code, { $ref: `${ERROR_SCHEMA_ID}#`, description: errorDescriptions[code] }]),
    ),
  };
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, part: string): z.infer<T> {
  if (!schema) return value as z.infer<T>;
  return parseInput(schema, value, part, (path) => (path.length ? path.join(".") : part));
}

/** Each request's caller, resolved before its body is read. */
const actors = new WeakMap<FastifyRequest, Actor>();

function sandboxOf(request: FastifyRequest): string {
  const header = request.headers[SANDBOX_HEADER];
  return typeof header === "string" && header ? header : DEFAULT_SANDBOX;
}

export function registerRoute<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
  app: FastifyInstance,
  deps: ApiDeps & ActorDeps,
  spec: RouteSpec<B, Q, P>,
) {
  const permissions =
    spec.permission === null ? [] : typeof spec.permission === "string" ? [spec.permission] : spec.permission;
  const sandboxed = spec.sandboxed ?? true;
  app.route({
    method: spec.method,
    url: spec.url,
    schema: {
      summary: spec.summary,
      tags: spec.tags,
      ...(spec.permission
        ? {
            description: permissionDescription(spec.permission, spec.permissionNote),
            security: [{ [BEARER_SCHEME]: [] }],
          }
        : {}),
      ...(spec.body ? { body: openapi(spec.body) } : {}),
      ...(spec.streamedBody ? { body: { type: "string", description: spec.streamedBody } } : {}),
      ...(spec.query ? { querystring: openapi(spec.query) } : {}),
      ...(spec.params ? { params: openapi(spec.params) } : {}),
      ...(sandboxed
        ? {
            headers: {
              type: "object",
              properties: { [SANDBOX_HEADER]: { type: "string", default: DEFAULT_SANDBOX } },
            },
          }
        : {}),
      response: documentedResponses(spec, sandboxed),
      ...(spec.consumes ? { consumes: spec.consumes } : {}),
    },
    // Who calls, and whether they may, is settled before the body is read: an unauthenticated or
    // forbidden caller never has the server parse a body. Public routes are not authenticated.
    onRequest: async (request) => {
      const actor =
        spec.permission === null || !deps.resolveActor
          ? localAdministrator
          : await deps.resolveActor(request, sandboxed ? sandboxOf(request) : null);
      for (const permission of permissions) requirePermission(actor, permission);
      actors.set(request, actor);
    },
    handler: async (request, reply) => {
      const sandbox = sandboxOf(request);
      const actor = actors.get(request);
      if (!actor) throw new Error(`${spec.method} ${spec.url}: the caller was not resolved`);
      if (sandboxed) await requireSandbox(deps.store, sandbox);
      const context = {
        body: parse(spec.body, request.body, "body"),
        query: parse(spec.query, request.query, "query"),
        params: parse(spec.params, request.params, "path"),
        sandbox,
        actor,
        deps,
        request,
        reply,
      };
      const result = await spec.handler(context);
      if (reply.sent) return reply;
      return reply.status(spec.status ?? 200).send(result);
    },
  });
}
