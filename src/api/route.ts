import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { type Actor, localAdministrator, type Permission, requirePermission } from "../access/index.ts";
import { parseInput } from "../errors/index.ts";
import { DEFAULT_SANDBOX, requireSandbox } from "../store/index.ts";
import type { ApiDeps } from "./deps.ts";

export const SANDBOX_HEADER = "x-sandbox-name";

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
   * Checked before the handler, every one of them; `null` only for the public health and
   * documentation routes.
   */
  permission: Permission | readonly Permission[] | null;
  /** What the handler checks beyond `permission`, in words, for the OpenAPI description. */
  permissionNote?: string;
  summary: string;
  tags: string[];
  body?: B;
  query?: Q;
  params?: P;
  response?: z.ZodType;
  status?: number;
  /** Routes outside any sandbox (health, sandbox administration) set this to false. */
  sandboxed?: boolean;
  /** Extra content types the body accepts (streamed routes); JSON is the default. */
  consumes?: string[];
  handler: (context: RouteContext<z.infer<B>, z.infer<Q>, z.infer<P>>) => Promise<unknown>;
}

/**
 * Who is calling. Herald has no login yet: without a resolver every caller is the local
 * administrator; roles (a later issue) supply one, and tests give actors without some permissions.
 */
export interface ActorDeps {
  resolveActor?: (request: FastifyRequest) => Actor;
}

/**
 * The OpenAPI description of a route's permissions: every one it checks, joined with `+` as users
 * know composite rules ("View Destinations + Activate Destinations"), conditional ones in words.
 */
export function permissionDescription(permission: Permission | readonly Permission[], note?: string): string {
  const names = `Requires permission: ${(typeof permission === "string" ? [permission] : permission).join(" + ")}`;
  return note ? `${names}; ${note}` : names;
}

const openapi = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: "openapi-3.0", unrepresentable: "any" });

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, part: string): z.infer<T> {
  if (!schema) return value as z.infer<T>;
  return parseInput(schema, value, part, (path) => (path.length ? path.join(".") : part));
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
        ? { description: permissionDescription(spec.permission, spec.permissionNote) }
        : {}),
      ...(spec.body ? { body: openapi(spec.body) } : {}),
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
      ...(spec.response ? { response: { [spec.status ?? 200]: openapi(spec.response) } } : {}),
      ...(spec.consumes ? { consumes: spec.consumes } : {}),
    },
    handler: async (request, reply) => {
      const actor = deps.resolveActor?.(request) ?? localAdministrator;
      for (const permission of permissions) requirePermission(actor, permission);
      const sandboxHeader = request.headers[SANDBOX_HEADER];
      const sandbox = typeof sandboxHeader === "string" && sandboxHeader ? sandboxHeader : DEFAULT_SANDBOX;
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
